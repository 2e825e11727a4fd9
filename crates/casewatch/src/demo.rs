//! The demo: a node on an accelerated clock, a simulated city pushing its case steps over
//! gRPC as their time comes, and the alerts printed as the node's alert feed delivers them.
//! Red cards are acknowledged and put under a supervision notice, as monitoring staff would.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use casewatch_domain::access::Role;
use casewatch_domain::policy::PolicyInForce;
use casewatch_proto::client::Authorized;
use casewatch_proto::pb;
use casewatch_proto::pb::monitor_service_client::MonitorServiceClient;
use casewatch_server::auth::{Authenticator, PrincipalSpec, generate_token};
use casewatch_server::node::{Node, NodeConfig};
use casewatch_server::{AcceleratedClock, Clock, Edge};
use casewatch_sim::{Output, SimConfig, Simulator, county_name};
use clap::Args;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use crate::client;
use crate::config::{ToolLogArgs, parse_listen};
use crate::lock::DataLock;
use crate::out::outln;
use crate::simulate::SimArgs;

/// How long the demo pushes cases, in real time.
const DEMO_LENGTH: Duration = Duration::from_secs(60);

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where the demo keeps its data; a fresh temporary directory when absent.
    #[arg(long = "data", env = "CASEWATCH_DATA")]
    pub(crate) data: Option<PathBuf>,
    /// The gRPC listen address, `host:port` (the demo's node can be queried while it runs).
    #[arg(long, env = "CASEWATCH_LISTEN", default_value = "127.0.0.1:50051",
          value_parser = parse_listen)]
    pub(crate) listen: SocketAddr,
    /// Real seconds per simulated day.
    #[arg(long, env = "CASEWATCH_SECONDS_PER_DAY", default_value_t = 4.0)]
    pub(crate) seconds_per_day: f64,
    #[command(flatten)]
    pub(crate) sim: SimArgs,
    #[command(flatten)]
    pub(crate) log: ToolLogArgs,
}

fn level_name(level: i32) -> &'static str {
    match pb::AlertLevel::try_from(level) {
        Ok(pb::AlertLevel::Warning) => "预警 warning",
        Ok(pb::AlertLevel::Yellow) => "黄牌 yellow",
        Ok(pb::AlertLevel::Red) => "红牌 red",
        Ok(pb::AlertLevel::Serious) => "严重 serious",
        _ => "?",
    }
}

fn quantity(quantity: Option<&pb::Quantity>) -> String {
    let Some(quantity) = quantity else {
        return String::new();
    };
    let unit = match pb::QuantityUnit::try_from(quantity.unit) {
        Ok(pb::QuantityUnit::WorkingDays) => " working days",
        Ok(pb::QuantityUnit::CalendarDays) => " calendar days",
        Ok(pb::QuantityUnit::Hours) => " working hours",
        Ok(pb::QuantityUnit::Days) => " days",
        Ok(pb::QuantityUnit::Fen) => " fen",
        _ => "",
    };
    format!("{}{unit}", quantity.value)
}

/// One line per alert change.
fn describe(alert: &pb::Alert) -> String {
    let at = alert
        .updated_at
        .and_then(|at| chrono::DateTime::from_timestamp(at.seconds, 0))
        .map(|at| {
            at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("a valid offset"))
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default();
    // What the change did: a rule raised, escalated or resolved it, or a person moved it
    // to the state it is in.
    let state = match pb::AlertChangeKind::try_from(alert.change) {
        Ok(
            change @ (pb::AlertChangeKind::Raised
            | pb::AlertChangeKind::Escalated
            | pb::AlertChangeKind::Resolved),
        ) => change
            .as_str_name()
            .trim_start_matches("ALERT_CHANGE_KIND_")
            .to_lowercase(),
        _ => pb::AlertState::try_from(alert.state)
            .map(|state| {
                state
                    .as_str_name()
                    .trim_start_matches("ALERT_STATE_")
                    .to_lowercase()
            })
            .unwrap_or_default(),
    };
    let county = casewatch_domain::ids::RegionCode::parse(alert.region_code.clone())
        .map(|region| county_name(&region))
        .unwrap_or("");
    format!(
        "{at}  {:<14} {:<3} {:<17} {:<22} {county}  {}: measured {}, threshold {}",
        level_name(alert.level),
        alert.rule,
        state,
        alert.case_no,
        alert.detail,
        quantity(alert.measured.as_ref()),
        quantity(alert.threshold.as_ref()),
    )
}

/// Prints the alert feed; acknowledges each new red card and issues a notice on it.
async fn watch_alerts(channel: Authorized<Channel>, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let mut monitor = MonitorServiceClient::new(channel);
    let mut feed = monitor
        .subscribe_alerts(pb::AlertFilter::default())
        .await
        .context("subscribe to alerts")?
        .into_inner();
    while let Some(alert) = feed.next().await {
        let alert = alert.context("read the alert feed")?;
        outln!("{}", describe(&alert))?;
        let new_card = alert.state == i32::from(pb::AlertState::Raised)
            && alert.level >= i32::from(pb::AlertLevel::Red)
            && alert.raised_at == alert.updated_at;
        if new_card {
            let due = clock.now() + chrono::Duration::days(3);
            for (suffix, action) in [
                (
                    "ack",
                    pb::act_on_alert_request::Action::Acknowledge(
                        pb::supervision_event::Acknowledge {
                            note: "已签收".into(),
                        },
                    ),
                ),
                (
                    "notice",
                    pb::act_on_alert_request::Action::IssueNotice(
                        pb::supervision_event::IssueNotice {
                            content: "请于三日内说明情况并整改".into(),
                            feedback_due: Some(casewatch_proto::convert::timestamp_to_pb(due)),
                        },
                    ),
                ),
            ] {
                let request = pb::ActOnAlertRequest {
                    event_id: format!("demo-{suffix}-{}", alert.cursor),
                    alert_id: alert.id.clone(),
                    action: Some(action),
                    await_projection: true,
                };
                if let Err(status) = monitor.act_on_alert(request).await {
                    outln!("    (the monitor could not act: {})", status.message())?;
                }
            }
        }
    }
    Ok(())
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // Taken at once, so that Ctrl-C or SIGTERM from here on stops the demo through `play`,
    // which removes its temporary data, rather than ending the process where it stands.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let temporary;
    let data_dir = match &args.data {
        Some(dir) => dir.clone(),
        None => {
            temporary = tempfile::tempdir().context("create a temporary data directory")?;
            temporary.path().to_owned()
        }
    };
    let _lock = DataLock::acquire(&data_dir)?;
    play(&args, &data_dir, &mut interrupt, &mut terminate).await
}

/// The demo's principals' tokens.
struct Tokens {
    counties: String,
    monitor: String,
    admin: String,
}

/// Runs the demo on `data_dir` until it ends or a signal stops it; stops the node either
/// way.
async fn play(
    args: &DemoArgs,
    data_dir: &std::path::Path,
    interrupt: &mut Signal,
    terminate: &mut Signal,
) -> anyhow::Result<()> {
    let sim = SimConfig::from(&args.sim);
    let factor = 86_400.0 / args.seconds_per_day.max(0.01);
    let clock: Arc<dyn Clock> = Arc::new(AcceleratedClock::new(sim.start, factor));
    let mut config = NodeConfig::new(data_dir);
    config.partitions = 4;
    // A tick every simulated hour or so.
    config.options.tick_every =
        Some(Duration::from_secs_f64(3600.0 / factor).max(Duration::from_millis(50)));
    // The simulated counties report as a county system, the alert watcher acts as a
    // monitor, and a person may look around as the development administrator.
    let [counties, monitor, admin] = [(); 3].map(|()| generate_token());
    config.options.edge = Edge {
        auth: Authenticator::new(vec![
            PrincipalSpec::unlimited("demo-counties", Role::CountySystem, &counties),
            PrincipalSpec::unlimited("demo-monitor", Role::Monitor, &monitor),
            PrincipalSpec::unlimited("dev-admin", Role::Admin, &admin),
        ])?,
        tls: None,
    };
    let tokens = Tokens {
        counties,
        monitor,
        admin,
    };
    let node = Node::start(config, args.listen, clock.clone(), PolicyInForce::shipped())
        .await
        .context("start the demo node")?;
    let watcher = tokio::spawn(watch_alerts(
        client::connect_local(node.addr, &tokens.monitor).await?,
        clock.clone(),
    ));
    let outcome = tokio::select! {
        outcome = push_city(&node, sim, &clock, factor, &tokens, args) => Some(outcome),
        _ = interrupt.recv() => None,
        _ = terminate.recv() => None,
    };
    watcher.abort();
    node.stop().await;
    match outcome {
        Some(outcome) => outcome,
        None => {
            eprintln!("the demo stopped: its node is down and its temporary data removed");
            Ok(())
        }
    }
}

/// Pushes the simulated city into the node as its time comes, then prints the figures.
async fn push_city(
    node: &Node,
    sim: SimConfig,
    clock: &Arc<dyn Clock>,
    factor: f64,
    tokens: &Tokens,
    args: &DemoArgs,
) -> anyhow::Result<()> {
    outln!(
        "Casewatch demo: a node at {} on a clock where a day passes in {} s; {} counties report {} \
         new cases each working day (to query the node meanwhile, send `authorization: Bearer \
         {}`). Alerts as they arrive:\n",
        node.addr,
        args.seconds_per_day,
        sim.counties,
        sim.cases_per_county_day,
        tokens.admin
    )?;
    let mut ingest = pb::ingest_service_client::IngestServiceClient::new(
        client::connect_local(node.addr, &tokens.counties).await?,
    );
    let started = Instant::now();
    let mut batch = Vec::new();
    let mut pushed = 0u64;
    for output in Simulator::new(sim) {
        let Output::Step { event, recorded_at } = output else {
            continue;
        };
        let ahead = (recorded_at - clock.now()).to_std().unwrap_or_default();
        if !ahead.is_zero() {
            pushed += client::push(&mut ingest, std::mem::take(&mut batch)).await?;
            tokio::time::sleep(Duration::from_secs_f64(ahead.as_secs_f64() / factor)).await;
        }
        if started.elapsed() > DEMO_LENGTH {
            break;
        }
        batch.push(pb::CaseEvent::from(*event));
    }
    pushed += client::push(&mut ingest, batch).await?;
    client::wait_until_projected(&node.state).await?;
    let mut monitor =
        MonitorServiceClient::new(client::connect_local(node.addr, &tokens.monitor).await?);
    let today = casewatch_proto::convert::date_to_pb(clock.now().date_naive());
    let statistics = monitor
        .get_statistics(pb::GetStatisticsRequest {
            from: Some(casewatch_proto::convert::date_to_pb(
                SimConfig::default().start.date_naive(),
            )),
            to: Some(today),
            group_by: pb::StatisticsGroupBy::RegionLevel.into(),
            ..Default::default()
        })
        .await
        .context("read the statistics")?
        .into_inner();
    if let Some(total) = statistics.total {
        let counters = total.counters.unwrap_or_default();
        let rates = total.rates.unwrap_or_default();
        let percent = |rate: Option<f64>| {
            rate.map_or("-".to_owned(), |rate| format!("{:.1} %", rate * 100.0))
        };
        outln!(
            "\n{pushed} steps pushed. Accepted {}, completed {} (on time {}), warnings {}, cards {}; \
             open now: {} green, {} yellow, {} red.",
            counters.accepted,
            counters.completed,
            percent(rates.on_time_rate),
            counters.warnings_raised,
            counters.cards_raised,
            counters.open_green,
            counters.open_yellow,
            counters.open_red,
        )?;
    }
    Ok(())
}
