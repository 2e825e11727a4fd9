//! A data directory holding the scripted scenario, for the suites that run the binary on
//! one.

#![allow(dead_code)]

use std::sync::Arc;

use casewatch_log::EventLog;
use casewatch_log::embedded::EmbeddedLog;
use casewatch_projector::Projector;
use casewatch_store::sqlite::SqliteStore;
use casewatch_tests::{Scripted, log_records, scenario};

pub(crate) const PARTITIONS: u32 = 4;

/// A data directory whose views hold the scripted scenario, folded as a node would.
pub(crate) async fn scenario_data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = Arc::new(EmbeddedLog::open(&dir.path().join("log"), PARTITIONS).expect("a log"));
    let script = scenario().into_iter().map(Scripted::Input);
    log.append(log_records(script, PARTITIONS))
        .await
        .expect("the scenario appends");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("views.db"))
            .await
            .expect("the views open"),
    );
    Projector::builder(log, store)
        .partitions(0..PARTITIONS)
        .open()
        .await
        .expect("a projector")
        .run_until_caught_up()
        .await
        .expect("the projector catches up");
    dir
}
