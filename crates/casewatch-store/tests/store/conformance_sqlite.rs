//! The ViewStore conformance suite against SQLite: database files in temporary
//! directories, and the in-memory store the unit tests of other crates can use.

use casewatch_store::conformance::Harness;
use casewatch_store::sqlite::SqliteStore;

/// One database file per store, each in its own temporary directory.
#[derive(Default)]
struct FileHarness {
    dirs: Vec<tempfile::TempDir>,
}

#[async_trait::async_trait]
impl Harness for FileHarness {
    type Store = SqliteStore;

    async fn fresh(&mut self) -> SqliteStore {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SqliteStore::open(&dir.path().join("views.db"))
            .await
            .expect("store opens");
        self.dirs.push(dir);
        store
    }
}

/// A private in-memory database per store.
struct MemoryHarness;

#[async_trait::async_trait]
impl Harness for MemoryHarness {
    type Store = SqliteStore;

    async fn fresh(&mut self) -> SqliteStore {
        SqliteStore::open_in_memory()
            .await
            .expect("in-memory store opens")
    }
}

mod file {
    casewatch_store::view_store_conformance!(super::FileHarness::default());
}

mod in_memory {
    casewatch_store::view_store_conformance!(super::MemoryHarness);
}
