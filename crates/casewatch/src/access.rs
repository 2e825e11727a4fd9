//! Who may call a server, and over what: the `[[principals]]`, `[server.tls]` and
//! `[server.limits]` sections of the configuration (read in `config`), checked and turned
//! into the server's [`Edge`]. With no principals, a server on loopback makes a development administrator and
//! prints its token; beyond loopback it refuses to start.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use casewatch_domain::access::{Grant, Principal, RegionScope, Role};
use casewatch_domain::ids::{DeptCode, RegionCode};
use casewatch_server::Edge;
use casewatch_server::auth::{Authenticator, CertSubject, Limits, PrincipalSpec, Rate};
use clap::Args;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::config::{Config, LimitOverrides, LimitsSection, PrincipalSection, TlsSection};

/// The file in the data directory that holds the development administrator's token.
pub(crate) const DEV_TOKEN_FILE: &str = "dev-token";

fn rate(field: &str, per_second: u32, burst: u32) -> anyhow::Result<Option<Rate>> {
    let Some(per_second) = NonZeroU32::new(per_second) else {
        return Ok(None);
    };
    let burst = NonZeroU32::new(burst)
        .with_context(|| format!("{field}_burst must be at least 1 with a rate set"))?;
    Ok(Some(Rate { per_second, burst }))
}

impl LimitsSection {
    fn limits(&self, overrides: &LimitOverrides) -> anyhow::Result<Limits> {
        let pick = |own: Option<u32>, default: u32| own.unwrap_or(default);
        let limits = Limits {
            requests: rate(
                "requests",
                pick(overrides.requests_per_second, self.requests_per_second),
                pick(overrides.requests_burst, self.requests_burst),
            )?,
            events: rate(
                "events",
                pick(overrides.events_per_second, self.events_per_second),
                pick(overrides.events_burst, self.events_burst),
            )?,
            streams: pick(overrides.streams, self.streams),
        };
        if limits.streams == 0 {
            bail!("streams must be at least 1");
        }
        Ok(limits)
    }
}

impl PrincipalSection {
    fn spec(&self, defaults: &LimitsSection, max_events: usize) -> anyhow::Result<PrincipalSpec> {
        let name = &self.name;
        let context = || format!("principal `{name}`");
        if name.trim().is_empty() || name.len() > casewatch_domain::event::NAME_MAX {
            bail!("principals: a name must have 1 to 200 characters, not `{name}`");
        }
        let regions = self
            .regions
            .iter()
            .map(|code| {
                RegionCode::parse(code.clone())
                    .with_context(|| format!("regions: `{code}` is not a region code"))
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .with_context(context)?;
        let scope = RegionScope::new(&regions)
            .with_context(|| format!("principal `{name}`: regions must list at least one"))?;
        let dept = self
            .dept
            .as_ref()
            .map(|code| {
                DeptCode::parse(code.clone())
                    .with_context(|| format!("dept: `{code}` is not a department code"))
            })
            .transpose()
            .with_context(context)?;
        let token_sha256 = self
            .token_sha256
            .as_ref()
            .map(|digest| {
                let bytes = hex::decode(digest.trim()).ok();
                bytes
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .context("token_sha256 must be 64 hex digits (`casewatch token` prints it)")
            })
            .transpose()
            .with_context(context)?;
        let cert_subject = self
            .cert_subject
            .as_deref()
            .map(CertSubject::parse)
            .transpose()
            .with_context(context)?;
        let limits = defaults.limits(&self.limits).with_context(context)?;
        if let Some(events) = limits.events
            && (events.burst.get() as usize) < max_events
        {
            bail!(
                "principal `{name}`: events_burst {} is below server.max_events_per_request \
                 {max_events}, so its largest requests could never pass",
                events.burst
            );
        }
        Ok(PrincipalSpec {
            grant: Grant {
                principal: Principal {
                    id: name.clone(),
                    name: self.display_name.clone(),
                    role: self.role,
                },
                scope,
                dept,
            },
            token_sha256,
            cert_subject,
            limits,
        })
    }
}

impl TlsSection {
    fn server_config(&self) -> anyhow::Result<ServerTlsConfig> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path).with_context(|| format!("read {what} `{}`", path.display()))
        };
        let identity = Identity::from_pem(
            read(&self.cert, "server.tls.cert")?,
            read(&self.key, "server.tls.key")?,
        );
        let mut tls = ServerTlsConfig::new().identity(identity);
        match &self.client_ca {
            Some(ca) => {
                tls = tls
                    .client_ca_root(Certificate::from_pem(read(ca, "server.tls.client_ca")?))
                    .client_auth_optional(!self.require_client_cert);
            }
            None if self.require_client_cert => {
                bail!("server.tls.require_client_cert needs server.tls.client_ca")
            }
            None => {}
        }
        Ok(tls)
    }
}

/// The edge a serving role puts in front of its services. With no principals configured
/// and a loopback address, a development administrator is made: its token is printed and
/// kept in `dev-token` in the data directory, for `casewatch simulate` and `grpcurl`.
pub(crate) fn edge(config: &Config) -> anyhow::Result<Edge> {
    let tls = tls(config)?;
    if config.principals.is_empty() {
        if !config.server.listen.ip().is_loopback() {
            bail!(
                "no principals are configured, and {} is not a loopback address: add \
                 [[principals]] to the configuration (see SECURITY.md)",
                config.server.listen
            );
        }
        let (token, path) = dev_token(&config.data)?;
        let auth = Authenticator::new(vec![PrincipalSpec::unlimited(
            "dev-admin",
            Role::Admin,
            &token,
        )])
        .context("the development principal")?;
        println!(
            "development principal `dev-admin` (admin, every region): send `authorization: \
             Bearer {token}` (kept in `{}` until you remove it)",
            path.display()
        );
        return Ok(Edge { auth, tls });
    }
    let specs = config
        .principals
        .iter()
        .map(|principal| {
            principal.spec(&config.server.limits, config.server.max_events_per_request)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let auth = Authenticator::new(specs).context("principals")?;
    Ok(Edge { auth, tls })
}

#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The principal's unique name.
    #[arg(long)]
    pub(crate) name: String,
    /// Its role.
    #[arg(long, value_parser = ["county_system", "department", "monitor", "auditor", "admin"])]
    pub(crate) role: String,
    /// A region code it covers (repeat for several; `000000` for every region).
    #[arg(long = "region", required = true)]
    pub(crate) regions: Vec<String>,
    /// The department it speaks for (统一社会信用代码); required for a department.
    #[arg(long)]
    pub(crate) dept: Option<String>,
}

/// `casewatch token`: a fresh token and its `[[principals]]` entry, checked as the
/// configuration would check it. The entry goes to standard output, ready to be appended
/// to a configuration file; the token goes to standard error, for the principal only.
pub(crate) fn print_token(args: &TokenArgs) -> anyhow::Result<()> {
    let token = casewatch_server::auth::generate_token();
    let digest = hex::encode(casewatch_server::auth::token_digest(&token));
    let quoted = |text: &str| toml::Value::String(text.to_owned()).to_string();
    let regions: Vec<String> = args.regions.iter().map(|code| quoted(code)).collect();
    let mut entry = format!(
        "[[principals]]\nname = {}\nrole = {}\nregions = [{}]\n",
        quoted(&args.name),
        quoted(&args.role),
        regions.join(", ")
    );
    if let Some(dept) = &args.dept {
        entry.push_str(&format!("dept = {}\n", quoted(dept)));
    }
    entry.push_str(&format!("token_sha256 = \"{digest}\"\n"));
    let config: Config = toml::from_str(&entry).context("the principal's entry")?;
    edge(&config)?;
    eprintln!(
        "the token of `{}`, for the principal only (the entry keeps just its SHA-256):\n{token}",
        args.name
    );
    crate::out::bytes(entry.as_bytes())
}

/// The listener's TLS, if configured.
pub(crate) fn tls(config: &Config) -> anyhow::Result<Option<ServerTlsConfig>> {
    config
        .server
        .tls
        .as_ref()
        .map(TlsSection::server_config)
        .transpose()
}

/// The development token and its file: the token already in `<data>/dev-token`, else a new
/// one written there where only this user can read it. It stays until the file is removed,
/// so a restarted server, and roles started apart on one directory, keep the token their
/// clients hold.
fn dev_token(data: &Path) -> anyhow::Result<(String, PathBuf)> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = data.join(DEV_TOKEN_FILE);
    if let Some(token) = read_dev_token(&path)? {
        return Ok((token, path));
    }
    std::fs::create_dir_all(data)
        .with_context(|| format!("create the data directory `{}`", data.display()))?;
    // Written whole beside it, then linked into place: a role starting at the same moment
    // finds either no file or a complete one, and the first link wins.
    let token = casewatch_server::auth::generate_token();
    let draft = data.join(format!(".{DEV_TOKEN_FILE}.{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&draft)
        .with_context(|| format!("write `{}`", draft.display()))?;
    writeln!(file, "{token}").with_context(|| format!("write `{}`", draft.display()))?;
    drop(file);
    let linked = std::fs::hard_link(&draft, &path);
    let _ = std::fs::remove_file(&draft);
    match linked {
        Ok(()) => Ok((token, path)),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let token = read_dev_token(&path)?
                .with_context(|| format!("`{}` vanished as it was made", path.display()))?;
            Ok((token, path))
        }
        Err(error) => Err(error).with_context(|| format!("write `{}`", path.display())),
    }
}

/// The token a development token file holds, if there is one.
fn read_dev_token(path: &Path) -> anyhow::Result<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| format!("read `{}`", path.display()));
        }
    };
    let token = text.trim();
    if token.is_empty() || !token.bytes().all(|byte| byte.is_ascii_graphic()) {
        bail!(
            "`{}` does not hold a development token: remove it, and a new one is made",
            path.display()
        );
    }
    Ok(Some(token.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        toml::from_str(text).expect("the configuration parses")
    }

    #[test]
    fn the_deployment_file_reads() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/casewatch.toml");
        let config = Config::read(&path).expect("deploy/casewatch.toml reads");
        assert_eq!(config.log.backend, crate::config::LogBackend::Kafka);
        assert_eq!(config.views.backend, crate::config::ViewsBackend::Postgres);
        let edge = edge(&config).expect("its principals are valid");
        assert!(!edge.auth.is_empty());
    }

    const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn principals_are_checked_naming_the_principal_and_the_setting() {
        let cases = [
            (
                "[[principals]]\nname = \"c\"\nrole = \"county_system\"\nregions = []\ntoken_sha256 = \"{DIGEST}\"\n",
                "principal `c`: regions must list at least one",
            ),
            (
                "[[principals]]\nname = \"c\"\nrole = \"county_system\"\nregions = [\"3301\"]\ntoken_sha256 = \"{DIGEST}\"\n",
                "principal `c`",
            ),
            (
                "[[principals]]\nname = \"c\"\nrole = \"county_system\"\nregions = [\"330106\"]\ntoken_sha256 = \"abc\"\n",
                "principal `c`",
            ),
            (
                "[[principals]]\nname = \"d\"\nrole = \"department\"\nregions = [\"330106\"]\ntoken_sha256 = \"{DIGEST}\"\n",
                "principals",
            ),
            (
                "[[principals]]\nname = \"c\"\nrole = \"county_system\"\nregions = [\"330106\"]\ntoken_sha256 = \"{DIGEST}\"\nevents_burst = 10\n",
                "principal `c`: events_burst 10 is below server.max_events_per_request 10000",
            ),
        ];
        for (text, expected) in cases {
            let error = edge(&config(&text.replace("{DIGEST}", DIGEST)))
                .expect_err("refused")
                .to_string();
            assert!(error.starts_with(expected), "{error}");
        }
        let error = toml::from_str::<Config>(
            "[[principals]]\nname = \"c\"\nrole = \"mayor\"\nregions = [\"330106\"]\n",
        )
        .expect_err("an unknown role");
        assert!(error.to_string().contains("mayor"), "{error}");
    }

    #[test]
    fn a_server_beyond_loopback_needs_principals() {
        let mut config = config("[server]\nlisten = \"0.0.0.0:50051\"\n");
        let error = edge(&config).expect_err("no principals").to_string();
        assert!(error.starts_with("no principals are configured"), "{error}");
        config.principals = toml::from_str::<Config>(&format!(
            "[[principals]]\nname = \"monitor-hz\"\nrole = \"monitor\"\nregions = [\"330100\"]\ntoken_sha256 = \"{DIGEST}\"\n"
        ))
        .expect("parses")
        .principals;
        let edge = edge(&config).expect("configured");
        assert!(!edge.auth.is_empty());
    }

    #[test]
    fn on_loopback_without_principals_a_development_token_is_written() {
        let data = tempfile::tempdir().expect("a temporary directory");
        let config = Config {
            data: data.path().to_owned(),
            ..Config::default()
        };
        edge(&config).expect("a development principal");
        let token = std::fs::read_to_string(data.path().join(DEV_TOKEN_FILE)).expect("written");
        assert!(token.trim().starts_with("cw_"), "{token}");
        edge(&config).expect("the development principal again");
        let again = std::fs::read_to_string(data.path().join(DEV_TOKEN_FILE)).expect("kept");
        assert_eq!(again, token, "the token stays until the file is removed");
        let files = std::fs::read_dir(data.path())
            .expect("the directory")
            .count();
        assert_eq!(files, 1, "no draft left beside it");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.path().join(DEV_TOKEN_FILE))
            .expect("the file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "only its owner reads the token");
    }
}
