//! Trace context goes out with `inject_current` and comes back as a link or a parent.

use casewatch_telemetry::{
    extract_parent, inject_current, link_to, link_to_all, set_remote_parent,
};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// A subscriber exporting to memory, in force only for this test's thread.
fn in_memory() -> (InMemorySpanExporter, SdkTracerProvider, tracing::Dispatch) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    (exporter, provider, tracing::Dispatch::new(subscriber))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[test]
fn inject_then_link_carries_the_trace_id() {
    let (exporter, provider, dispatch) = in_memory();
    let (trace_id, headers) = tracing::dispatcher::with_default(&dispatch, || {
        let append = tracing::info_span!("append");
        let _entered = append.enter();
        let trace_id = append.context().span().span_context().trace_id();
        (trace_id, inject_current())
    });
    let traceparent = header(&headers, "traceparent").expect("a traceparent");
    assert_eq!(
        traceparent.split('-').nth(1),
        Some(trace_id.to_string().as_str()),
        "{traceparent}"
    );

    tracing::dispatcher::with_default(&dispatch, || {
        let batch = tracing::info_span!("batch");
        link_to(&batch, &headers);
    });
    provider.force_flush().expect("flush");
    let spans = exporter.get_finished_spans().expect("finished spans");
    let batch = spans
        .iter()
        .find(|span| span.name == "batch")
        .expect("the batch span");
    let linked: Vec<_> = batch
        .links
        .iter()
        .map(|link| link.span_context.trace_id())
        .collect();
    assert_eq!(linked, vec![trace_id]);
    assert_ne!(
        batch.span_context.trace_id(),
        trace_id,
        "a link, not a parent"
    );
}

#[test]
fn headers_without_traceparent_add_no_link() {
    let (exporter, provider, dispatch) = in_memory();
    tracing::dispatcher::with_default(&dispatch, || {
        let batch = tracing::info_span!("batch");
        link_to(&batch, &[]);
        link_to(
            &batch,
            &[
                ("tracestate".to_owned(), "vendor=1".to_owned()),
                ("traceparent".to_owned(), "not-a-traceparent".to_owned()),
            ],
        );
    });
    provider.force_flush().expect("flush");
    let spans = exporter.get_finished_spans().expect("finished spans");
    assert_eq!(spans.len(), 1);
    assert!(spans[0].links.is_empty());
}

#[test]
fn without_opentelemetry_nothing_is_injected_or_linked() {
    let subscriber = tracing_subscriber::registry();
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("plain");
        let _entered = span.enter();
        assert!(inject_current().is_empty());
        link_to(
            &span,
            &[(
                "traceparent".to_owned(),
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
            )],
        );
    });
    assert!(inject_current().is_empty(), "no span at all");
}

#[test]
fn a_server_span_continues_the_callers_trace() {
    let (exporter, provider, dispatch) = in_memory();
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .expect("ascii"),
    );
    let parent = extract_parent(&metadata);
    assert!(parent.span().span_context().is_remote());
    tracing::dispatcher::with_default(&dispatch, || {
        let rpc = tracing::info_span!("rpc");
        rpc.set_parent(parent).expect("the span is not started yet");
    });
    provider.force_flush().expect("flush");
    let spans = exporter.get_finished_spans().expect("finished spans");
    assert_eq!(
        spans[0].span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(spans[0].parent_span_id.to_string(), "00f067aa0ba902b7");

    let empty = extract_parent(&tonic::metadata::MetadataMap::new());
    assert!(!empty.span().span_context().is_valid());
}

fn traceparent(trace: &str, span: &str) -> Vec<(String, String)> {
    vec![("traceparent".to_owned(), format!("00-{trace}-{span}-01"))]
}

#[test]
fn a_batch_links_each_calling_span_once() {
    let (exporter, provider, dispatch) = in_memory();
    let first = traceparent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let second = traceparent("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let records = [first.clone(), first, Vec::new(), second];
    tracing::dispatcher::with_default(&dispatch, || {
        let batch = tracing::info_span!("batch");
        link_to_all(&batch, records.iter().map(Vec::as_slice));
    });
    provider.force_flush().expect("flush");
    let spans = exporter.get_finished_spans().expect("finished spans");
    let linked: Vec<String> = spans[0]
        .links
        .iter()
        .map(|link| link.span_context.trace_id().to_string())
        .collect();
    assert_eq!(
        linked,
        [
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "0af7651916cd43dd8448eb211c80319c"
        ]
    );
}

#[test]
fn set_remote_parent_reads_the_http_headers() {
    let (exporter, provider, dispatch) = in_memory();
    let mut headers = tonic::codegen::http::HeaderMap::new();
    headers.insert(
        "traceparent",
        tonic::codegen::http::HeaderValue::from_static(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
    );
    tracing::dispatcher::with_default(&dispatch, || {
        let rpc = tracing::info_span!("rpc");
        set_remote_parent(&rpc, &headers);
        let _entered = rpc.enter();
    });
    // Without OpenTelemetry, and without a traceparent, nothing happens.
    set_remote_parent(&tracing::info_span!("rpc"), &headers);
    tracing::dispatcher::with_default(&dispatch, || {
        set_remote_parent(
            &tracing::info_span!("root"),
            &tonic::codegen::http::HeaderMap::new(),
        );
    });
    provider.force_flush().expect("flush");
    let spans = exporter.get_finished_spans().expect("finished spans");
    let rpc = spans.iter().find(|span| span.name == "rpc").expect("rpc");
    assert_eq!(rpc.parent_span_id.to_string(), "00f067aa0ba902b7");
    let root = spans.iter().find(|span| span.name == "root").expect("root");
    assert_eq!(root.parent_span_id, opentelemetry::trace::SpanId::INVALID);
}
