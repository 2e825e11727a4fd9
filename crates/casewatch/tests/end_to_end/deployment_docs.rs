//! The deployment documents hold what the binary takes: the README's settings table names
//! every setting the configuration file accepts (asked of the binary itself, which lists
//! the keys of a section when given one it does not know), and `deploy/README.md` calls
//! the compose stack with a token, on the ports the compose file publishes. The README's
//! deployment walkthrough itself is played by the end-to-end suite
//! (`e2e::the_readmes_deployment_section_plays_as_written`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repository().join(path))
        .unwrap_or_else(|error| panic!("{path} reads: {error}"))
}

/// The keys the configuration takes in `section` (`""` for the top level), as the binary
/// lists them when the section holds one it does not know.
fn keys_of(section: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("casewatch.toml");
    let header = if section.is_empty() {
        String::new()
    } else {
        format!("[{section}]\n")
    };
    std::fs::write(&file, format!("{header}no_such_setting = 1\n")).expect("written");
    let output = Command::new(env!("CARGO_BIN_EXE_casewatch"))
        .args(["verify", "--config"])
        .arg(&file)
        .env_remove("RUST_BACKTRACE")
        .env_remove("CASEWATCH_CONFIG")
        .output()
        .expect("casewatch runs");
    assert!(!output.status.success(), "an unknown setting is refused");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (_, expected) = stderr
        .split_once("unknown field `no_such_setting`, expected ")
        .unwrap_or_else(|| panic!("no list of the valid keys of [{section}]: {stderr}"));
    let expected = expected.lines().next().unwrap_or_default();
    let expected = expected.strip_prefix("one of ").unwrap_or(expected);
    expected
        .split(", ")
        .map(|key| key.trim().trim_matches('`').to_owned())
        .collect()
}

/// Whether the settings table names `section.key`: in full, or as `.key` on a row that
/// names another key of the section in full (`` `server.tls.cert`, `.key` ``).
fn documented(table: &str, section: &str, key: &str) -> bool {
    if section.is_empty() {
        return table.contains(&format!("`{key}`")) || table.contains(&format!("`[[{key}]]`"));
    }
    table.contains(&format!("`{section}.{key}`"))
        || table.lines().any(|row| {
            row.starts_with(&format!("| `{section}.")) && row.contains(&format!("`.{key}`"))
        })
}

#[test]
fn the_settings_table_names_every_setting_the_configuration_takes() {
    let readme = read("README.md");
    let (_, table) = readme
        .split_once("| setting | flag / variable | default |")
        .expect("the README has its settings table");
    let table: String = table
        .lines()
        .skip(1)
        .take_while(|line| line.starts_with('|'))
        .map(|line| format!("{line}\n"))
        .collect();
    let sections = [
        "",
        "log",
        "log.kafka",
        "log.embedded",
        "views",
        "server",
        "server.tls",
        "server.limits",
        "projector",
        "telemetry",
    ];
    let mut missing = Vec::new();
    for section in sections {
        for key in keys_of(section) {
            let full = if section.is_empty() {
                key.clone()
            } else {
                format!("{section}.{key}")
            };
            if sections.contains(&full.as_str()) {
                continue; // a section of its own
            }
            if !documented(&table, section, &key) {
                missing.push(full);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the README's settings table does not name {missing:?}"
    );
}

/// The host port the compose file publishes for `service`'s port 50051.
fn published_port(compose: &str, service: &str) -> String {
    let (_, rest) = compose
        .split_once(&format!("\n  {service}:\n"))
        .unwrap_or_else(|| panic!("docker-compose.yml has no service `{service}`"));
    let block = rest.split("\n\n").next().unwrap_or_default();
    block
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("- \"")
                .and_then(|mapping| mapping.strip_suffix(":50051\""))
        })
        .unwrap_or_else(|| panic!("`{service}` publishes no port: {block}"))
        .to_owned()
}

#[test]
fn deploy_readme_calls_the_compose_stack_with_a_token_on_its_published_ports() {
    let guide = read("deploy/README.md");
    let compose = read("deploy/docker-compose.yml");
    let ingest = published_port(&compose, "ingest-1");
    let api = published_port(&compose, "api");
    let (_, section) = guide
        .split_once("## docker compose")
        .expect("deploy/README.md has its compose section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let commands: Vec<String> = section
        .split("```sh")
        .skip(1)
        .filter_map(|block| block.split_once("```").map(|(code, _)| code))
        .flat_map(|code| {
            code.replace("\\\n", " ")
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();

    let simulate: Vec<&String> = commands
        .iter()
        .filter(|command| command.contains(" simulate "))
        .collect();
    assert!(!simulate.is_empty(), "the guide pushes a simulated city");
    for command in simulate {
        assert!(
            command.contains("--token") || command.contains("CASEWATCH_TOKEN"),
            "the placeholders' tokens were thrown away, so `{command}` must send one"
        );
        assert!(
            command.contains(&format!("127.0.0.1:{ingest}")),
            "`{command}` pushes to an ingest replica (port {ingest})"
        );
    }
    let grpcurl: Vec<&String> = commands
        .iter()
        .filter(|command| command.trim_start().starts_with("grpcurl"))
        .collect();
    assert!(!grpcurl.is_empty(), "the guide looks at the api");
    for command in grpcurl {
        assert!(
            command.contains(&format!("127.0.0.1:{api}")),
            "`{command}` asks the api, published on port {api}"
        );
    }
}
