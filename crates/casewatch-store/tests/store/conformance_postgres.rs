//! The ViewStore conformance suite against PostgreSQL, a throwaway schema per store; then
//! what only this backend has: several projector processes (pools) on one database, the
//! commit feed, and the digest it shares with SQLite.
//!
//! Every test skips, saying so on stderr, when the test database does not answer, unless
//! `CASEWATCH_REQUIRE_POSTGRES=1` (see `casewatch_store::postgres::testing`).

use std::sync::Arc;
use std::time::Duration;

use casewatch_store::conformance::{self, Harness};
use casewatch_store::postgres::testing::{self, TestSchema};
use casewatch_store::postgres::{COMMIT_CHANNEL, CommitEvent, CommitFeed, CommitNotice, PgStore};
use casewatch_store::sqlite::SqliteStore;
use casewatch_store::{AlertFilter, CommittedAlert, StoreError, ViewBatch, ViewStore};
use sqlx::{Connection as _, PgConnection};

const SUITE: &str = "conformance_postgres";

/// How long a test waits for a notice that must come, so a lost one fails the test rather
/// than hanging it.
const NOTICE_TIMEOUT: Duration = Duration::from_secs(10);

/// Stores in schemas of their own, closed and dropped when the test passed.
struct SchemaHarness {
    base_url: String,
    schemas: Vec<TestSchema>,
    stores: Vec<PgStore>,
}

impl SchemaHarness {
    /// `None` (the test skips) when the test database does not answer.
    async fn open() -> Option<SchemaHarness> {
        Some(SchemaHarness {
            base_url: testing::reachable_database(SUITE).await?,
            schemas: Vec::new(),
            stores: Vec::new(),
        })
    }

    async fn schema(&mut self) -> TestSchema {
        let schema = TestSchema::create(&self.base_url)
            .await
            .expect("test schema creates");
        self.schemas.push(schema.clone());
        schema
    }

    /// A store with its own pool, as another process would have.
    async fn connect(&mut self, schema: &TestSchema) -> PgStore {
        let store = PgStore::connect(&schema.url).await.expect("store connects");
        self.stores.push(store.clone());
        store
    }
}

#[async_trait::async_trait]
impl Harness for SchemaHarness {
    type Store = PgStore;

    async fn fresh(&mut self) -> PgStore {
        let schema = self.schema().await;
        self.connect(&schema).await
    }

    async fn finish(&mut self) {
        for store in self.stores.drain(..) {
            store.close().await;
        }
        for schema in self.schemas.drain(..) {
            schema.remove().await.expect("test schema drops");
        }
    }
}

mod suite {
    casewatch_store::view_store_conformance!(optional super::SchemaHarness::open());
}

/// The commit feed announces every batch of its schema, with its partition, checkpoint and
/// last cursor, including batches another pool committed; it skips a payload it cannot
/// read, and hears nothing of other schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commit_feed_announces_every_batch() {
    let Some(mut harness) = SchemaHarness::open().await else {
        return;
    };
    let schema = harness.schema().await;
    let projector = harness.connect(&schema).await;
    let api = harness.connect(&schema).await;
    let mut feed = api.commit_feed().await.expect("feed listens");
    assert_ne!(
        api.commit_channel(),
        COMMIT_CHANNEL,
        "a test schema's own channel"
    );

    // Views in another schema of the same database commit unheard.
    let elsewhere = harness.fresh().await;
    apply(&elsewhere, conformance::sample_batches(0, 2).remove(0)).await;

    let mut raw = PgConnection::connect(&schema.url)
        .await
        .expect("raw connection");
    sqlx::query("SELECT pg_notify($1, 'not a notice')")
        .bind(api.commit_channel())
        .execute(&mut raw)
        .await
        .expect("notify");
    raw.close().await.expect("raw connection closes");

    let (mut with_alerts, mut without) = (0, 0);
    for batch in conformance::sample_batches(0, 2) {
        let next_offset = batch.checkpoint.next_offset;
        let committed = apply(&projector, batch).await;
        if committed.is_empty() {
            without += 1;
        } else {
            with_alerts += 1;
        }
        assert_eq!(
            next_event(&mut feed).await,
            commit(0, next_offset, &committed)
        );
    }
    assert!(
        with_alerts > 0 && without > 0,
        "the sample has batches with and without alert changes"
    );
    harness.finish().await;
}

/// A feed whose connection is cut says `Resync`, listens again, and carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commit_feed_resyncs_after_losing_its_connection() {
    let Some(mut harness) = SchemaHarness::open().await else {
        return;
    };
    let schema = harness.schema().await;
    // The application name tells this test's connections from everyone else's.
    let options = schema
        .connect_options()
        .expect("options")
        .application_name(&schema.name);
    let store = PgStore::connect_with(options)
        .await
        .expect("store connects");
    let mut feed = store.commit_feed().await.expect("feed listens");

    let mut raw = PgConnection::connect(&schema.url)
        .await
        .expect("raw connection");
    let cut: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(&schema.name)
    .fetch_one(&mut raw)
    .await
    .expect("listener terminates");
    raw.close().await.expect("raw connection closes");
    assert_eq!(cut, 1, "one listening connection");

    // The cut shows either as a lost connection or as an error, then as `Resync`.
    let mut errors = 0;
    loop {
        match tokio::time::timeout(NOTICE_TIMEOUT, feed.next())
            .await
            .expect("the feed notices the cut")
        {
            Ok(CommitEvent::Resync) => break,
            Ok(event) => panic!("nothing was committed, got {event:?}"),
            Err(error) => {
                errors += 1;
                assert!(errors < 3, "the feed does not reconnect: {error}");
            }
        }
    }
    let batch = conformance::sample_batches(1, 3).remove(0);
    let next_offset = batch.checkpoint.next_offset;
    let committed = apply(&store, batch).await;
    assert_eq!(
        next_event(&mut feed).await,
        commit(1, next_offset, &committed)
    );
    store.close().await;
    harness.finish().await;
}

/// Projector processes (one pool each) commit alert-bearing batches of different
/// partitions at once while a reader in a third process resumes from the last cursor it
/// saw: it sees every change once, in cursor order, and the cursors have no gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn projectors_in_several_processes_skip_no_alert() {
    const ROUNDS: usize = 5;
    let Some(mut harness) = SchemaHarness::open().await else {
        return;
    };
    for _ in 0..ROUNDS {
        let schema = harness.schema().await;
        let reader = harness.connect(&schema).await;
        let mut writers = Vec::new();
        for _ in conformance::sample_partitions() {
            writers.push(Arc::new(harness.connect(&schema).await));
        }
        let committed = conformance::race_partitions(&reader, writers).await;
        let cursors: Vec<u64> = committed.iter().map(|change| change.cursor).collect();
        let dense: Vec<u64> = (1..).take(cursors.len()).collect();
        assert_eq!(cursors, dense, "cursors have no gaps");
    }
    harness.finish().await;
}

/// A fenced batch writes nothing, takes no cursor and announces nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_batch_leaves_nothing_behind() {
    let Some(mut harness) = SchemaHarness::open().await else {
        return;
    };
    let schema = harness.schema().await;
    let store = harness.connect(&schema).await;
    let mut feed = store.commit_feed().await.expect("feed listens");
    let batches = conformance::sample_batches(0, 2);
    // Up to the first batch with alert changes, so that the cursor counter has moved.
    let applied = batches
        .iter()
        .position(|batch| !batch.alerts.is_empty())
        .expect("the sample changes alerts")
        + 1;
    assert!(applied < batches.len(), "a batch follows");
    let mut cursor = 0;
    for batch in batches[..applied].iter().cloned() {
        cursor = apply(&store, batch)
            .await
            .last()
            .map_or(cursor, |change| change.cursor);
        next_event(&mut feed).await;
    }
    let mut raw = PgConnection::connect(&schema.url)
        .await
        .expect("raw connection");
    let before = contents(&mut raw).await;
    let digest = store.digest().await.expect("digest");

    let stale = batches[applied - 1].clone();
    let mut ahead = conformance::sample_batches(1, 3).remove(1);
    ahead.from_offset = 5;
    for batch in [stale, ahead] {
        assert!(
            !batch.alerts.is_empty() || !batch.cases.is_empty(),
            "the refused batch carries rows"
        );
        match store.apply(batch).await {
            Err(StoreError::Fenced { .. }) => {}
            other => panic!("the batch must be fenced, got {other:?}"),
        }
    }
    assert_eq!(contents(&mut raw).await, before);
    assert_eq!(store.digest().await.expect("digest"), digest);
    raw.close().await.expect("raw connection closes");

    let next = batches[applied].clone();
    let next_offset = next.checkpoint.next_offset;
    let committed = apply(&store, next).await;
    assert_eq!(
        committed.first().map(|change| change.cursor),
        (!committed.is_empty()).then_some(cursor + 1),
        "the fenced batches took no cursor"
    );
    assert_eq!(
        next_event(&mut feed).await,
        commit(0, next_offset, &committed),
        "the fenced batches announced nothing"
    );
    harness.finish().await;
}

/// The same batches give PostgreSQL and SQLite the same digest and the same reads, cursors
/// included, however the log is cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_sqlite_hold_the_same_views() {
    let Some(mut harness) = SchemaHarness::open().await else {
        return;
    };
    for size in [1, 3, usize::MAX] {
        let postgres = harness.fresh().await;
        let sqlite = SqliteStore::open_in_memory()
            .await
            .expect("in-memory store opens");
        let batches: Vec<ViewBatch> = conformance::sample_partitions()
            .into_iter()
            .flat_map(|partition| conformance::sample_batches(partition, size))
            .collect();
        for batch in batches {
            assert_eq!(
                apply(&postgres, batch.clone()).await,
                apply(&sqlite, batch).await
            );
        }
        assert_eq!(
            postgres.digest().await.expect("digest"),
            sqlite.digest().await.expect("digest"),
            "batches of {size}"
        );
        let all = AlertFilter::default();
        assert_eq!(
            postgres
                .list_alerts(&all, None, 1000)
                .await
                .expect("alerts"),
            sqlite.list_alerts(&all, None, 1000).await.expect("alerts")
        );
        assert_eq!(
            postgres.checkpoints().await.expect("checkpoints"),
            sqlite.checkpoints().await.expect("checkpoints")
        );
        assert_eq!(
            postgres.quarantine(None, 1000).await.expect("quarantine"),
            sqlite.quarantine(None, 1000).await.expect("quarantine")
        );
        sqlite.close().await;
    }
    harness.finish().await;
}

/// The migration's `stats` columns are the counters' names, in order: the statements
/// generate their column lists from `Counters::NAMES`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_columns_of_the_migration_are_the_counter_names() {
    let Some(mut harness) = SchemaHarness::open().await else {
        return;
    };
    let schema = harness.schema().await;
    harness.connect(&schema).await;
    let mut raw = PgConnection::connect(&schema.url)
        .await
        .expect("raw connection");
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'stats' \
         ORDER BY ordinal_position",
    )
    .fetch_all(&mut raw)
    .await
    .expect("columns read");
    raw.close().await.expect("raw connection closes");
    let key = ["day", "region_code", "dept_code", "item_code"];
    assert_eq!(&columns[..key.len()], &key);
    assert_eq!(
        &columns[key.len()..],
        casewatch_domain::stats::Counters::NAMES
    );
    harness.finish().await;
}

async fn apply(store: &impl ViewStore, batch: ViewBatch) -> Vec<CommittedAlert> {
    store.apply(batch).await.expect("batch applies")
}

/// The notice of a batch that committed `committed`.
fn commit(partition: u32, next_offset: u64, committed: &[CommittedAlert]) -> CommitEvent {
    CommitEvent::Commit(CommitNotice {
        partition,
        next_offset,
        last_cursor: committed.last().map(|change| change.cursor),
    })
}

async fn next_event(feed: &mut CommitFeed) -> CommitEvent {
    tokio::time::timeout(NOTICE_TIMEOUT, feed.next())
        .await
        .expect("a notice arrives")
        .expect("the feed reads")
}

/// The row count of every table and the cursor counter.
async fn contents(conn: &mut PgConnection) -> Vec<(String, i64)> {
    let mut contents = Vec::new();
    for table in [
        "cases",
        "steps",
        "chain_links",
        "pending_steps",
        "alerts",
        "alert_transitions",
        "refusals",
        "quarantine",
        "stats",
        "checkpoints",
    ] {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *conn)
            .await
            .expect("table counts");
        contents.push((table.to_owned(), count));
    }
    let next: i64 = sqlx::query_scalar("SELECT next FROM alert_cursor")
        .fetch_one(&mut *conn)
        .await
        .expect("counter reads");
    contents.push(("alert_cursor".to_owned(), next));
    contents
}
