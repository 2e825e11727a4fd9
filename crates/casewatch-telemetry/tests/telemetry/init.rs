//! `init` as the binary calls it: one process, one global subscriber, so one test here.

use casewatch_telemetry::{TelemetryConfig, init, inject_current};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_exports_spans_and_propagates_their_context() {
    // A loopback port with nobody listening: the export fails fast, the process does not.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port();
    let config = TelemetryConfig {
        otlp_endpoint: Some(format!("http://127.0.0.1:{port}")),
        // The failed export is expected here: keep it out of the test output.
        log_filter: Some("off".to_owned()),
        ..TelemetryConfig::default()
    };
    let guard = init(&config, "casewatch-test").expect("the first init");
    assert!(
        init(&config, "casewatch-test").is_err(),
        "a second subscriber is refused"
    );

    let span = tracing::info_span!("rpc");
    let headers = span.in_scope(inject_current);
    assert!(
        headers.iter().any(|(name, _)| name == "traceparent"),
        "{headers:?}"
    );
    drop(span);

    let started = std::time::Instant::now();
    drop(guard);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "shutdown is bounded"
    );
}
