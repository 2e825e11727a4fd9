//! placeholder
pub mod pb {
    tonic::include_proto!("casewatch.v1");
}
