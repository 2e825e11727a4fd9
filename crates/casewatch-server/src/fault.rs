//! Whose fault a request the server could not read is. tonic answers a message over the
//! size limit with `OUT_OF_RANGE` and bytes that are not the request's message with
//! `INTERNAL`; both are the caller's fault. Casewatch answers them as gRPC's convention
//! and the Go, Java and C++ servers do: `RESOURCE_EXHAUSTED` for the size, and
//! `INVALID_ARGUMENT` naming the field that could not be read (`case_no: invalid string
//! value: data is not UTF-8 encoded`).

use casewatch_proto::convert::decode_failure;
use tonic::{Code, Status};

/// The status tonic gave a request it could not read, as the caller's fault; any other
/// status as it is.
pub(crate) fn caller_fault(status: Status) -> Status {
    match status.code() {
        Code::OutOfRange => Status::resource_exhausted(status.message()),
        Code::Internal => match decode_failure(status.message()) {
            Some(failure) => Status::invalid_argument(failure.to_string()),
            None => status,
        },
        _ => status,
    }
}

/// Rewrites the status of every response that ends before it starts (a request that could
/// not be read ends so) with [`caller_fault`]. Streams that fail later map their own.
pub(crate) fn layer() -> Layer {
    tower::util::MapResponseLayer::new(rewrite)
}

/// The layer of [`layer`].
pub(crate) type Layer = tower::util::MapResponseLayer<fn(Response) -> Response>;

type Response = http::Response<tonic::body::Body>;

fn rewrite(mut response: Response) -> Response {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    if status.code() == Code::Ok {
        return response;
    }
    let mapped = caller_fault(status.clone());
    if mapped.code() != status.code() {
        let headers = response.headers_mut();
        headers.remove("grpc-status");
        headers.remove("grpc-message");
        if let Err(error) = mapped.add_header(headers) {
            tracing::warn!(%error, "cannot rewrite a status");
        }
    }
    response
}
