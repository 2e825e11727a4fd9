//! Compiles the `casewatch.v1` protos with protox (no `protoc` needed), writes the file
//! descriptor set for gRPC reflection, and generates the prost messages and tonic services.

use std::path::PathBuf;

const PROTO_ROOT: &str = "../../proto";
const PROTOS: &[&str] = &[
    "casewatch/v1/common.proto",
    "casewatch/v1/events.proto",
    "casewatch/v1/views.proto",
    "casewatch/v1/ingest.proto",
    "casewatch/v1/monitor.proto",
    "casewatch/v1/audit.proto",
    "casewatch/v1/policy.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}/casewatch/v1");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={PROTO_ROOT}/{proto}");
    }

    let fds = protox::compile(PROTOS, [PROTO_ROOT])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("casewatch_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;

    // The generated clients take any tower service; a caller that wants tonic's own
    // channel builds one (`Endpoint::connect`) and wraps it, so this crate stays free of
    // the HTTP stack.
    tonic_prost_build::configure()
        .build_transport(false)
        .compile_fds(fds)?;

    // The server side of `IngestService` again, taking each event as the bytes the sender
    // encoded (`crate::received`), so that the log stores what was received.
    let append = |name: &str, route: &str| {
        tonic_prost_build::manual::Method::builder()
            .name(name)
            .route_name(route)
            .input_type("crate::received::AppendRequest")
            .output_type("crate::pb::AppendResponse")
            .codec_path("tonic_prost::ProstCodec")
    };
    let ingest = tonic_prost_build::manual::Service::builder()
        .name("IngestService")
        .package("casewatch.v1")
        .method(append("append", "Append").build())
        .method(
            append("append_stream", "AppendStream")
                .client_streaming()
                .server_streaming()
                .build(),
        )
        .build();
    tonic_prost_build::manual::Builder::new()
        .build_client(false)
        .build_transport(false)
        .compile(&[ingest]);
    Ok(())
}
