//! `casewatch policy`: the policy of a running node — the rule book and the working
//! calendars in force, their history, and a change from a TOML file, checked here, shown
//! as a diff of the part it replaces, and applied over `PolicyService`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use casewatch_domain::calendar::{CalendarData, RegionCalendar};
use casewatch_domain::policy::{PolicyContent, PolicyPart, PolicySources};
use casewatch_domain::rulebook::RuleBook;
use casewatch_proto::client::Authorized;
use casewatch_proto::convert::{ProtoEnum, timestamp_from_pb, timestamp_to_pb};
use casewatch_proto::pb;
use casewatch_proto::pb::policy_service_client::PolicyServiceClient;
use chrono::{DateTime, FixedOffset};
use clap::{Args, Subcommand, ValueEnum};
use similar::TextDiff;
use tonic::transport::Channel;

use crate::client::ClientArgs;
use crate::config::ToolLogArgs;

#[derive(Debug, Args)]
pub(crate) struct PolicyArgs {
    #[command(subcommand)]
    pub(crate) action: PolicyAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyAction {
    /// Print the policy in force: the rule book, the national calendar and each region's
    /// calendar as TOML with their versions, and the changes waiting for their instant.
    Show(Connection),
    /// Print every change of policy on the log, oldest first, with what became of it.
    History(Connection),
    /// Print how the change in FILE would change the part it replaces.
    Diff(ChangeArgs),
    /// Check the change in FILE, print its diff, and apply it: append it to every
    /// partition of the log, from `--from` on.
    Apply(ApplyArgs),
}

/// The server, and what to log.
#[derive(Debug, Args)]
pub(crate) struct Connection {
    #[command(flatten)]
    pub(crate) client: ClientArgs,
    #[command(flatten)]
    pub(crate) log: ToolLogArgs,
}

/// What a policy file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Part {
    /// A whole rule book (its `version` inside).
    RuleBook,
    /// Years of the national calendar (`[[year]]` tables).
    NationalCalendar,
    /// A region's calendar changes (`region = "…"`).
    RegionCalendar,
}

impl From<Part> for PolicyPart {
    fn from(part: Part) -> Self {
        match part {
            Part::RuleBook => PolicyPart::RuleBook,
            Part::NationalCalendar => PolicyPart::NationalCalendar,
            Part::RegionCalendar => PolicyPart::RegionCalendar,
        }
    }
}

/// A change of policy in a file.
#[derive(Debug, Args)]
pub(crate) struct ChangeArgs {
    /// The TOML document of the part.
    pub(crate) file: PathBuf,
    /// Which part the file replaces.
    #[arg(long, value_enum)]
    pub(crate) part: Part,
    /// The version it installs [default: a rule book's own `version`; for a calendar,
    /// the one after the calendar version in force].
    #[arg(long)]
    pub(crate) version: Option<u32>,
    #[command(flatten)]
    pub(crate) connection: Connection,
}

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    #[command(flatten)]
    pub(crate) change: ChangeArgs,
    /// Why: the policy's history shows it.
    #[arg(long)]
    pub(crate) reason: String,
    /// The instant it applies from, RFC 3339 (`2027-01-01T00:00:00+08:00`) [default: now].
    #[arg(long)]
    pub(crate) from: Option<DateTime<FixedOffset>>,
    /// Check and print the diff only; append nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

impl PolicyAction {
    pub(crate) fn log(&self) -> &ToolLogArgs {
        match self {
            PolicyAction::Show(connection) | PolicyAction::History(connection) => &connection.log,
            PolicyAction::Diff(change) => &change.connection.log,
            PolicyAction::Apply(apply) => &apply.change.connection.log,
        }
    }
}

type Client = PolicyServiceClient<Authorized<Channel>>;

async fn client(connection: &Connection) -> anyhow::Result<Client> {
    Ok(PolicyServiceClient::new(connection.client.connect().await?))
}

async fn in_force(client: &mut Client) -> anyhow::Result<pb::PolicyView> {
    Ok(client
        .get_policy(pb::GetPolicyRequest {})
        .await
        .map_err(|status| anyhow!("the policy in force: {}", status.message()))?
        .into_inner())
}

pub(crate) async fn run(args: PolicyArgs) -> anyhow::Result<()> {
    match args.action {
        PolicyAction::Show(connection) => show(&mut client(&connection).await?).await,
        PolicyAction::History(connection) => history(&mut client(&connection).await?).await,
        PolicyAction::Diff(change) => {
            let mut client = client(&change.connection).await?;
            let view = in_force(&mut client).await?;
            let (_, content) = read_change(&change, &view)?;
            print!("{}", diff(&view, &content)?);
            Ok(())
        }
        PolicyAction::Apply(apply) => {
            let mut client = client(&apply.change.connection).await?;
            let view = in_force(&mut client).await?;
            let (document, content) = read_change(&apply.change, &view)?;
            print!("{}", diff(&view, &content)?);
            let response = client
                .apply_policy(pb::ApplyPolicyRequest {
                    part: content.kind().to_pb(),
                    version: content.version(),
                    document,
                    reason: apply.reason,
                    applies_from: apply.from.map(|from| timestamp_to_pb(from.to_utc())),
                    dry_run: apply.dry_run,
                })
                .await
                .map_err(|status| anyhow!("refused: {}", status.message()))?
                .into_inner();
            let change = response.change.unwrap_or_default();
            let from = local(change.applies_from.as_ref())?;
            if apply.dry_run {
                println!(
                    "checked: {} version {} from {from} by {}; nothing applied (--dry-run)",
                    content.part(),
                    content.version(),
                    change.author
                );
            } else {
                println!(
                    "applied: {} version {} from {from} by {}, on {} partitions",
                    content.part(),
                    content.version(),
                    change.author,
                    response.positions.len()
                );
            }
            Ok(())
        }
    }
}

/// The file's document and the change it reads as, checked here as the server checks it.
fn read_change(
    change: &ChangeArgs,
    view: &pb::PolicyView,
) -> anyhow::Result<(String, PolicyContent)> {
    let document = std::fs::read_to_string(&change.file)
        .with_context(|| format!("cannot read {}", change.file.display()))?;
    let part = PolicyPart::from(change.part);
    let version = match (change.version, part) {
        (Some(version), _) => version,
        (None, PolicyPart::RuleBook) => {
            toml::from_str::<RuleBook>(&document)
                .map_err(|error| anyhow!("{}: {}", change.file.display(), error.message()))?
                .version
        }
        (None, _) => view.calendar_version + 1,
    };
    let content = PolicyContent::parse(part, version, &document)
        .map_err(|error| anyhow!("{}: {error}", change.file.display()))?;
    Ok((document, content))
}

/// The policy in force as its parts, read back from the documents the server sent.
fn sources(view: &pb::PolicyView) -> anyhow::Result<PolicySources> {
    let rule_book: RuleBook =
        toml::from_str(&view.rule_book).context("the rule book the server sent")?;
    let national = CalendarData::parse(&view.national_calendar)
        .context("the national calendar the server sent")?;
    let mut regions = BTreeMap::new();
    for region in &view.regions {
        let changes: RegionCalendar = toml::from_str(&region.document)
            .with_context(|| format!("the calendar of `{}` the server sent", region.region))?;
        regions.insert(changes.region.clone(), changes);
    }
    Ok(PolicySources {
        rule_book,
        calendar_version: view.calendar_version,
        national: national
            .years
            .into_iter()
            .map(|year| (year.year, year))
            .collect(),
        regions,
    })
}

/// The part `content` replaces, before and after it, as a unified diff.
fn diff(view: &pb::PolicyView, content: &PolicyContent) -> anyhow::Result<String> {
    let (before, after) = sources(view)?.documents_changed(content);
    if before == after {
        return Ok(format!("{}: no change\n", content.part()));
    }
    Ok(TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(3)
        .header("in force", "the change")
        .to_string())
}

async fn show(client: &mut Client) -> anyhow::Result<()> {
    let view = in_force(client).await?;
    let ends = view.calendar_ends.map_or_else(
        || "no data for this year: Monday to Friday".to_owned(),
        |date| format!("data to {:04}-{:02}-{:02}", date.year, date.month, date.day),
    );
    println!(
        "# rule book, version {}\n{}",
        view.rule_book_version, view.rule_book
    );
    println!(
        "# national calendar, version {} ({ends})\n{}",
        view.calendar_version, view.national_calendar
    );
    for region in &view.regions {
        println!(
            "# calendar of region {}\n{}",
            region.region, region.document
        );
    }
    for change in &view.pending {
        println!("{}", waiting(change)?);
    }
    Ok(())
}

fn waiting(change: &pb::PolicyEvent) -> anyhow::Result<String> {
    let from = local(change.applies_from.as_ref())?;
    Ok(format!(
        "# waiting: {} version {} from {from}, by {}: {}",
        part_name(change.part()),
        change.version,
        change.author,
        change.reason
    ))
}

/// An instant of a message as people read it (empty when unset).
fn local(at: Option<&prost_types::Timestamp>) -> anyhow::Result<String> {
    Ok(at
        .map(|at| timestamp_from_pb(at).map(casewatch_domain::local_text))
        .transpose()?
        .unwrap_or_default())
}

fn part_name(part: pb::PolicyPart) -> &'static str {
    match part {
        pb::PolicyPart::RuleBook => "rule book",
        pb::PolicyPart::NationalCalendar => "national calendar",
        pb::PolicyPart::RegionCalendar => "region calendar",
        pb::PolicyPart::Unspecified => "unknown part",
    }
}

async fn history(client: &mut Client) -> anyhow::Result<()> {
    let records = client
        .list_policy_history(pb::ListPolicyHistoryRequest {})
        .await
        .map_err(|status| anyhow!("the policy's history: {}", status.message()))?
        .into_inner()
        .records;
    if records.is_empty() {
        println!("no change of policy on the log: the shipped policy is in force");
    }
    for record in records {
        let change = record.change.clone().unwrap_or_default();
        let at = local(record.recorded_at.as_ref())?;
        let outcome = match record.outcome() {
            pb::PolicyOutcome::Applied => "applied".to_owned(),
            pb::PolicyOutcome::Held => "held until its instant".to_owned(),
            pb::PolicyOutcome::Refused => format!("refused: {}", record.reason),
            pb::PolicyOutcome::Unspecified => "unknown".to_owned(),
        };
        println!(
            "{at}  {} version {} by {}: {} — {outcome}",
            part_name(change.part()),
            change.version,
            change.author,
            change.reason
        );
    }
    Ok(())
}
