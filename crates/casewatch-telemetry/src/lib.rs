//! Tracing set-up and trace-context propagation for Casewatch.
//!
//! [`init`] installs the process-wide `tracing` subscriber: human or JSON logs on standard
//! error and, when an OTLP endpoint is configured, an OpenTelemetry layer that exports spans
//! to a collector over gRPC, and a global meter provider that exports the metrics the
//! crates record through `opentelemetry::global::meter` (such as
//! `casewatch.projector.records_quarantined`) to the same collector every minute. The other functions carry a span's W3C trace context across
//! the places where the call stack breaks: into gRPC metadata, and onto the log beside a
//! record so the projector's batch can point back at the call that appended it.
//!
//! This crate holds no business logic and reads no configuration of its own beyond the
//! conventional `RUST_LOG`; the binary hands it a [`TelemetryConfig`].

use std::collections::HashSet;
use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{SdkMeterProvider, Temporality};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tonic::codegen::http::HeaderMap;
use tonic::metadata::MetadataMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{EnvFilter, FilterExt as _, FilterFn, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// The log filter used when neither `RUST_LOG` nor the configuration gives one.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// How long dropping the [`TelemetryGuard`] waits for the last spans to reach the collector.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The crates whose spans and events never go to the collector: the OTLP exporter's own
/// transport (exporting its own requests would feed on itself) and the SDK's diagnostics;
/// a target matches every crate whose name it begins, so `hyper` covers `hyper_util`.
const NOT_EXPORTED: &[&str] = &["h2", "hyper", "tonic", "tower", "opentelemetry"];

/// The OpenTelemetry SDK's own reports of one failed export (by event name), which it
/// repeats at every export, every 5 seconds, for as long as the collector is away: they
/// never reach the log. [`ExportWatch`] says the same once instead, and again only when it
/// changes. The SDK's other reports (a full span queue, a failed shutdown) still do.
const REPEATED_EXPORT_FAILURES: &[&str] = &[
    "BatchSpanProcessor.ExportError",
    "PeriodicReader.ExportError",
    "PeriodicReader.ExportFailed",
    "Export.Failed.Exhausted",
    "Export.Failed.DeadlineExceeded",
    "Export.Failed.NonRetryable",
];

/// How the process logs and traces; the `[telemetry]` table of the configuration file.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Where to send spans over OTLP/gRPC, such as `http://otel-collector:4317`; no spans
    /// leave the process when absent.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` the spans carry; the role's default when absent.
    pub service_name: Option<String>,
    /// Which logs reach standard error, in `RUST_LOG` syntax; the environment's `RUST_LOG`
    /// wins when set, and [`DEFAULT_LOG_FILTER`] applies when neither is.
    pub log_filter: Option<String>,
    /// One JSON object per log line instead of human-readable text.
    pub json_logs: bool,
}

/// Keeps the tracer and meter providers alive; dropping it flushes the spans and metrics
/// not yet exported and shuts the exporters down. Hold it until the end of `main`, inside a
/// multi-threaded Tokio runtime: the flush blocks its thread while the exporter's
/// connection runs on another.
#[derive(Debug)]
#[must_use = "dropping the guard shuts tracing export down"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    meters: Option<SdkMeterProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT)
        {
            tracing::warn!(%error, "cannot flush the last spans to the collector");
        }
        if let Some(meters) = self.meters.take()
            && let Err(error) = meters.shutdown_with_timeout(SHUTDOWN_TIMEOUT)
        {
            tracing::warn!(%error, "cannot flush the last metrics to the collector");
        }
    }
}

/// Installs the global `tracing` subscriber and the W3C TraceContext propagator.
///
/// Logs go to standard error, filtered by `RUST_LOG`, else `config.log_filter`, else
/// [`DEFAULT_LOG_FILTER`]. With `config.otlp_endpoint` set, spans at INFO and above are
/// also exported over OTLP/gRPC under `config.service_name` or `default_service`; that
/// filter is separate from the log filter, so quiet logs do not mean missing traces.
/// The exporter needs a Tokio runtime: call this from inside one.
pub fn init(config: &TelemetryConfig, default_service: &str) -> anyhow::Result<TelemetryGuard> {
    let log_filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => {
            EnvFilter::try_new(&directives).context("parse the `RUST_LOG` filter")?
        }
        _ => {
            let directives = config.log_filter.as_deref().unwrap_or(DEFAULT_LOG_FILTER);
            EnvFilter::try_new(directives)
                .with_context(|| format!("parse the log filter `{directives}`"))?
        }
    };
    // Colour only for a person at a terminal, not in a container's log.
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let log_filter = log_filter.and(not_repeated_export_failures());
    let fmt = if config.json_logs {
        fmt.json().with_filter(log_filter).boxed()
    } else {
        fmt.with_filter(log_filter).boxed()
    };
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![fmt];

    let (provider, meters) = match config.otlp_endpoint.as_deref() {
        Some(endpoint) => {
            let service = config.service_name.as_deref().unwrap_or(default_service);
            let provider = tracer_provider(endpoint, service)?;
            let tracer = provider.tracer("casewatch");
            layers.push(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(export_filter())
                    .boxed(),
            );
            (Some(provider), Some(meter_provider(endpoint, service)?))
        }
        None => (None, None),
    };

    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .context("install the global tracing subscriber")?;
    // For libraries that trace through the OpenTelemetry API directly; this crate's own
    // functions use the W3C propagator without going through the globals.
    if let Some(provider) = &provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    if let Some(meters) = &meters {
        opentelemetry::global::set_meter_provider(meters.clone());
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(TelemetryGuard { provider, meters })
}

/// Refuses what the exporters cannot reach: TLS is not built in, and the gRPC channel
/// spawns its connection task on the current runtime.
fn check_endpoint(endpoint: &str) -> anyhow::Result<()> {
    if !endpoint.starts_with("http://") {
        anyhow::bail!(
            "the otlp endpoint `{endpoint}` must be a plain `http://` url: \
             tls to the collector is not built in"
        );
    }
    tokio::runtime::Handle::try_current()
        .context("start the otlp exporter: it needs a running tokio runtime")?;
    Ok(())
}

fn resource(service: &str) -> Resource {
    Resource::builder()
        .with_service_name(service.to_owned())
        .build()
}

/// A provider that exports the process's metrics to the OTLP/gRPC collector at
/// `endpoint` every minute (`OTEL_METRIC_EXPORT_INTERVAL` in milliseconds changes that).
fn meter_provider(endpoint: &str, service: &str) -> anyhow::Result<SdkMeterProvider> {
    check_endpoint(endpoint)?;
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("build the otlp metric exporter for `{endpoint}`"))?;
    Ok(SdkMeterProvider::builder()
        .with_periodic_exporter(Watched::new(exporter, "metrics", endpoint))
        .with_resource(resource(service))
        .build())
}

/// A provider that batches spans to the OTLP/gRPC collector at `endpoint`.
fn tracer_provider(endpoint: &str, service: &str) -> anyhow::Result<SdkTracerProvider> {
    check_endpoint(endpoint)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("build the otlp exporter for `{endpoint}`"))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(Watched::new(exporter, "traces", endpoint))
        .with_resource(resource(service))
        .build())
}

/// The log's filter against [`REPEATED_EXPORT_FAILURES`]. It hints that it may pass any
/// level, so that, combined with the log filter, the most the two pass stays the log
/// filter's own: without a hint the combination claims every level, and (seen in a role on
/// PostgreSQL views, whose sqlx asks what is enabled at every level) the role's INFO lines
/// went missing. `role_lifecycle.rs` checks that they are there.
fn not_repeated_export_failures() -> FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    FilterFn::new(|metadata: &tracing::Metadata<'_>| {
        !(metadata.target().starts_with("opentelemetry")
            && REPEATED_EXPORT_FAILURES.contains(&metadata.name()))
    })
    .with_max_level_hint(LevelFilter::TRACE)
}

/// What the exports of one signal (traces, metrics) last came to, so that a collector
/// that cannot be reached is logged once, at WARN, rather than at every export: again only
/// when the error changes, and at INFO when exports succeed again.
#[derive(Debug)]
struct ExportWatch {
    signal: &'static str,
    endpoint: String,
    /// The error of the last export; `None` after a success, or before the first export.
    failing: Mutex<Option<String>>,
}

impl ExportWatch {
    fn new(signal: &'static str, endpoint: &str) -> Self {
        Self {
            signal,
            endpoint: endpoint.to_owned(),
            failing: Mutex::new(None),
        }
    }

    /// Notes an export's outcome, logging what changed.
    fn record(&self, result: &OTelSdkResult) {
        let mut failing = self
            .failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(()) => {
                if failing.take().is_some() {
                    tracing::info!(
                        endpoint = %self.endpoint,
                        "the collector takes {} again", self.signal
                    );
                }
            }
            Err(error) => {
                let error = error.to_string();
                if failing.as_deref() != Some(error.as_str()) {
                    tracing::warn!(
                        endpoint = %self.endpoint,
                        %error,
                        "cannot export {} to the collector: they are dropped until it takes \
                         them (said again only if this changes)",
                        self.signal
                    );
                    *failing = Some(error);
                }
            }
        }
    }
}

/// An exporter whose outcomes an [`ExportWatch`] follows.
#[derive(Debug)]
struct Watched<E> {
    inner: E,
    watch: ExportWatch,
}

impl<E> Watched<E> {
    fn new(inner: E, signal: &'static str, endpoint: &str) -> Self {
        Self {
            inner,
            watch: ExportWatch::new(signal, endpoint),
        }
    }
}

impl<E: SpanExporter> SpanExporter for Watched<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.watch.record(&result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Watched<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        self.watch.record(&result);
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// Which spans the OpenTelemetry layer exports: INFO and above, but none of the crates in
/// [`NOT_EXPORTED`].
fn export_filter() -> EnvFilter {
    NOT_EXPORTED.iter().fold(
        EnvFilter::builder()
            .with_default_directive(LevelFilter::INFO.into())
            .parse_lossy(""),
        |filter, target| {
            filter.add_directive(
                format!("{target}=off")
                    .parse()
                    .expect("a crate name followed by `=off` is a valid directive"),
            )
        },
    )
}

/// The current `tracing` span's context as W3C headers (`traceparent`, and `tracestate`
/// when it has one), ready to put beside a record on the log or into outgoing metadata.
/// Empty when the current span carries no OpenTelemetry context (no OTLP export, or no
/// span at all).
pub fn inject_current() -> Vec<(String, String)> {
    let context = tracing::Span::current().context();
    let mut headers = HeaderVec(Vec::new());
    TraceContextPropagator::new().inject_context(&context, &mut headers);
    headers.0
}

/// Adds a link (not a parent) from `span` to the span whose context `headers` carry.
///
/// A projector batch folds records appended by many calls: each is a cause, none is the
/// parent. Headers without a valid `traceparent`, and spans that are not exported, are
/// ignored.
pub fn link_to(span: &tracing::Span, headers: &[(String, String)]) {
    let context = TraceContextPropagator::new().extract(&HeaderSlice(headers));
    let linked = context.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}

/// [`link_to`] for every record of a batch, one link per distinct calling span: records
/// appended by one call share its context. The SDK keeps the first 128 links of a span and
/// counts the rest as dropped.
pub fn link_to_all<'a>(
    span: &tracing::Span,
    headers: impl IntoIterator<Item = &'a [(String, String)]>,
) {
    let propagator = TraceContextPropagator::new();
    let mut seen = HashSet::new();
    for headers in headers {
        let context = propagator.extract(&HeaderSlice(headers));
        let linked = context.span().span_context().clone();
        if linked.is_valid() && seen.insert((linked.trace_id(), linked.span_id())) {
            span.add_link(linked);
        }
    }
}

/// Makes `span` a child of the caller's span carried in the request `headers`
/// (`traceparent`): for the server span tonic's `trace_fn` builds, before it is entered.
/// Leaves the span a root when the caller sent no context or nothing is exported.
pub fn set_remote_parent(span: &tracing::Span, headers: &HeaderMap) {
    let parent = extract_parent_from_headers(headers);
    if parent.span().span_context().is_valid() {
        // Fails only when the span is not exported (no OpenTelemetry layer, or filtered
        // out) or already started: either way it stays as it is.
        let _ = span.set_parent(parent);
    }
}

/// The caller's trace context from a gRPC request's metadata (`traceparent`), to make the
/// server's span its child. An empty context when the caller sent none, which leaves the
/// span a root.
pub fn extract_parent(metadata: &MetadataMap) -> opentelemetry::Context {
    extract_parent_from_headers(metadata.as_ref())
}

/// [`extract_parent`] for the raw HTTP headers, as tonic's `trace_fn` sees them.
pub fn extract_parent_from_headers(headers: &HeaderMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&HeaderMapExtractor(headers))
}

/// Collects injected headers in order.
struct HeaderVec(Vec<(String, String)>);

impl Injector for HeaderVec {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

/// Reads headers kept beside a record; names match without regard to case, as in HTTP.
struct HeaderSlice<'a>(&'a [(String, String)]);

impl Extractor for HeaderSlice<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_str()).collect()
    }
}

/// Reads HTTP/2 request headers; values that are not visible ASCII count as absent.
struct HeaderMapExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderMapExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reads_the_telemetry_table() {
        let config: TelemetryConfig = toml::from_str(
            r#"
            otlp_endpoint = "http://otel-collector:4317"
            json_logs = true
            "#,
        )
        .expect("a valid table");
        assert_eq!(
            config.otlp_endpoint.as_deref(),
            Some("http://otel-collector:4317")
        );
        assert!(config.json_logs);
        assert_eq!(config.service_name, None);
        assert!(toml::from_str::<TelemetryConfig>("endpoint = \"x\"").is_err());
    }

    #[test]
    fn export_filter_parses() {
        let filter = export_filter().to_string();
        assert!(filter.contains("tonic=off"), "{filter}");
        assert!(filter.contains("info"), "{filter}");
    }

    /// Logs written by what runs in `run`, as the roles' log shows them (at `info`).
    fn logged(run: impl FnOnce()) -> String {
        let buffer = std::sync::Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let buffer = buffer.clone();
            move || Captured(buffer.clone())
        };
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_filter(EnvFilter::new("info").and(not_repeated_export_failures())),
        );
        tracing::subscriber::with_default(subscriber, run);
        let bytes = buffer.lock().expect("the log").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    struct Captured(std::sync::Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("the log").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn refused() -> OTelSdkResult {
        Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure(
            "transport error: Connection refused".to_owned(),
        ))
    }

    fn count(log: &str, level: &str) -> usize {
        log.lines().filter(|line| line.contains(level)).count()
    }

    #[test]
    fn an_unreachable_collector_is_a_warning_once_and_again_when_it_changes() {
        let watch = ExportWatch::new("traces", "http://127.0.0.1:4317");
        let log = logged(|| {
            for _ in 0..5 {
                watch.record(&refused());
            }
        });
        assert_eq!(count(&log, "WARN"), 1, "{log}");
        assert_eq!(count(&log, "ERROR"), 0, "{log}");
        assert!(
            log.contains("cannot export traces to the collector")
                && log.contains("Connection refused")
                && log.contains("http://127.0.0.1:4317"),
            "{log}"
        );

        // It answers again, then fails again, then fails otherwise.
        let log = logged(|| {
            watch.record(&Ok(()));
            watch.record(&Ok(()));
            watch.record(&refused());
            watch.record(&refused());
            let timeout = Err(opentelemetry_sdk::error::OTelSdkError::Timeout(
                Duration::from_secs(10),
            ));
            watch.record(&timeout);
            watch.record(&timeout);
        });
        assert_eq!(count(&log, "INFO"), 1, "{log}");
        assert!(log.contains("the collector takes traces again"), "{log}");
        assert_eq!(count(&log, "WARN"), 2, "{log}");
        assert_eq!(count(&log, "ERROR"), 0, "{log}");
    }

    #[test]
    fn the_sdks_report_of_every_failed_export_stays_out_of_the_log() {
        let log = logged(|| {
            tracing::error!(
                name: "BatchSpanProcessor.ExportError",
                target: "opentelemetry_sdk",
                error = "Connection refused"
            );
            tracing::warn!(
                name: "Export.Failed.Exhausted",
                target: "opentelemetry-otlp",
                retries = 3
            );
            tracing::error!(
                name: "PeriodicReader.ExportError",
                target: "opentelemetry_sdk",
                error = "Connection refused"
            );
            tracing::warn!(
                name: "BatchSpanProcessor.SpanDroppingStarted",
                target: "opentelemetry_sdk",
                message = "spans dropped"
            );
            tracing::error!(name: "BatchSpanProcessor.ExportError", "not the sdk");
        });
        assert!(!log.contains("Connection refused"), "{log}");
        assert!(!log.contains("retries"), "{log}");
        assert!(
            log.contains("spans dropped"),
            "the SDK's other reports stay: {log}"
        );
        assert!(
            log.contains("not the sdk"),
            "only the SDK's are left out: {log}"
        );
    }

    /// An exporter that answers from a script.
    #[derive(Debug)]
    struct Scripted(Mutex<Vec<OTelSdkResult>>);

    impl SpanExporter for Scripted {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().expect("the script").remove(0)
        }
    }

    #[tokio::test]
    async fn the_watched_exporter_reports_what_its_exporter_answers() {
        let watched = Watched::new(
            Scripted(Mutex::new(vec![refused(), refused(), Ok(())])),
            "traces",
            "http://collector:4317",
        );
        let mut results = Vec::new();
        for _ in 0..3 {
            results.push(watched.export(Vec::new()).await);
        }
        assert!(results[0].is_err() && results[1].is_err() && results[2].is_ok());
        assert!(watched.watch.failing.lock().expect("the state").is_none());
    }

    #[test]
    fn plain_http_only() {
        let error =
            tracer_provider("https://collector:4317", "test").expect_err("tls is not built in");
        assert!(error.to_string().contains("tls"), "{error}");
        let error =
            meter_provider("https://collector:4317", "test").expect_err("tls is not built in");
        assert!(error.to_string().contains("tls"), "{error}");
    }
}
