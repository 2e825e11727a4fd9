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
    Ok(())
}
