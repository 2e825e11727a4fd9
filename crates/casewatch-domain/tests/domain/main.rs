//! The domain's specification, in one test binary: the alert rules as scenarios, the
//! published figures, the properties that hold for any input, and what ingest refuses,
//! all written in the script language of `support`.

mod figures;
mod lifecycle;
mod properties;
mod rules;
mod support;
mod validation;
mod year_edges;
