//! The public gRPC contract of Casewatch (`casewatch.v1`): the generated messages and
//! services, the file descriptor set for reflection, the record envelope of the log, and the
//! conversions between protobuf and the domain.
//!
//! Protobuf types are lax (every field optional, enums open); domain types are strict. This
//! crate is the one edge where the first become the second: `TryFrom<pb::X>` for each domain
//! type, with a [`ValidationError`](casewatch_domain::ValidationError) that names the field
//! by its dotted path in the message. It holds no business logic and the domain never sees
//! prost.

pub mod client;
pub mod convert;
mod event;
mod policy;
mod record;
mod report;
mod rulebook;
mod supervision;
mod view;

pub use record::{
    RECORD_FORMAT_VERSION, RecordError, decode_record, encode_record, encode_tick, read_record,
};

/// The messages and services generated from `proto/casewatch/v1`.
pub mod pb {
    tonic::include_proto!("casewatch.v1");
}

/// `IngestService` as the server receives it: the same contract on the wire, with each
/// event kept as the bytes its sender encoded.
pub mod received {
    /// `casewatch.v1.AppendRequest` with each event undecoded. An embedded message and a
    /// `bytes` field are encoded alike, so this reads exactly what `pb::AppendRequest`
    /// writes; the server decodes each event once, checks it, and appends the bytes it
    /// received (fields unknown to this build included) to the log.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AppendRequest {
        /// Each `casewatch.v1.CaseEvent`, encoded.
        #[prost(bytes = "vec", repeated, tag = "1")]
        pub events: Vec<Vec<u8>>,
        #[prost(string, tag = "2")]
        pub request_id: String,
    }

    include!(concat!(env!("OUT_DIR"), "/casewatch.v1.IngestService.rs"));
}

/// The encoded `FileDescriptorSet` of `casewatch.v1` and its imports, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/casewatch_descriptor.bin"));
