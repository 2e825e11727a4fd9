//! A data directory holding the scripted scenario, for the suites that run the binary on
//! one.

use std::sync::Arc;

use casewatch_store::sqlite::SqliteStore;
use casewatch_tests::{Scripted, scenario};

use super::PARTITIONS;

/// A data directory whose views hold the scripted scenario, folded as a node would.
pub(crate) async fn scenario_data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("views.db"))
            .await
            .expect("the views open"),
    );
    let script = scenario().into_iter().map(Scripted::Input);
    super::fold(script, PARTITIONS, &dir.path().join("log"), store).await;
    dir
}
