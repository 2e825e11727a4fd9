//! The PostgreSQL backend of [`ViewStore`](crate::ViewStore), for the distributed roles:
//! several projector processes write one database, several api processes read it.
//!
//! The statements are those of every SQL backend (the crate's `sql` module): each batch is
//! one transaction that first moves the partition's checkpoint only if it still stands at
//! the batch's `from_offset` (the fence: of two projectors that briefly own the same
//! partition, the stale one's batch fails and rolls back). Alert cursors come from a
//! one-row counter bumped last in the transaction: its row lock is held until the commit,
//! so alert-writing commits are serialised and cursors follow commit order across
//! processes — a subscriber resuming after cursor `c` can never find a smaller cursor
//! committed later. Every batch then announces itself on the `casewatch_commits` channel
//! (one per schema, see [`PgStore::commit_channel`]), which [`CommitFeed`] follows.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection as _, PgConnection, Postgres, QueryBuilder};
use tracing::{info, warn};

use crate::sql::{Dialect, SqlViews, db, migration, sql_primitives, view_store};
pub use crate::{CommitEvent, CommitNotice};
use crate::{Result, StoreError};

/// The migrations, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// The channel every batch committed to the views in the `public` schema is announced on.
pub const COMMIT_CHANNEL: &str = "casewatch_commits";

/// The channel of the connection's schema, computed by the server wherever it is needed, so
/// the announcing and the listening side cannot disagree: [`COMMIT_CHANNEL`] for `public`,
/// and for any other schema that name with a digest of the schema's: NOTIFY is per
/// database, and views in two schemas of one database (test schemas, say) must not hear
/// each other's commits. A digest, because channel names are limited to 63 bytes.
const CHANNEL_OF_SCHEMA: &str = "CASE current_schema() WHEN 'public' THEN 'casewatch_commits' \
    ELSE 'casewatch_commits_' \
    || left(encode(sha256(convert_to(current_schema(), 'UTF8')), 'hex'), 16) END";

/// Connections per store: batches of different partitions commit concurrently.
const CONNECTIONS: u32 = 10;

/// How long a store waits for a connection, unless told otherwise: long enough for a
/// database across a data centre, short enough that a wrong address or a database that is
/// down is reported while someone still watches.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `host:port` (or the socket path) that `options` connect to, for messages.
fn server_name(options: &PgConnectOptions) -> String {
    match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    }
}

/// A duration as people write it (`5s`, `500ms`).
fn humane(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// The views in one PostgreSQL database (in the schema its connections' `search_path`
/// names first).
#[derive(Debug, Clone)]
pub struct PgStore {
    /// One pool serves batches and reads alike.
    views: SqlViews<Postgres>,
    channel: String,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/database`) and brings
    /// its schema up to date, waiting at most [`DEFAULT_CONNECT_TIMEOUT`] for a connection.
    pub async fn connect(url: &str) -> Result<PgStore> {
        Self::connect_with(PgConnectOptions::from_str(url).map_err(db)?).await
    }

    /// Connects with `options` and brings the schema up to date, waiting at most
    /// [`DEFAULT_CONNECT_TIMEOUT`] for a connection.
    pub async fn connect_with(options: PgConnectOptions) -> Result<PgStore> {
        Self::connect_within(options, DEFAULT_CONNECT_TIMEOUT).await
    }

    /// Connects with `options` and brings the schema up to date. A server that refuses,
    /// or does not answer within `timeout`, is an [`StoreError::Unavailable`] naming it
    /// and the cause; afterwards every wait for a connection (a read, a batch, a health
    /// probe while the database is away) fails after `timeout` too, rather than hanging.
    pub async fn connect_within(options: PgConnectOptions, timeout: Duration) -> Result<PgStore> {
        let server = server_name(&options);
        let database = options.get_database().map(str::to_owned);
        // One connection of our own first: the pool retries a refused connection until its
        // timeout and then says only that it timed out, where this says why.
        match tokio::time::timeout(timeout, PgConnection::connect_with(&options)).await {
            Ok(Ok(connection)) => {
                // A failed goodbye does not make the database unreachable.
                let _ = connection.close().await;
            }
            Ok(Err(error)) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to PostgreSQL at `{server}`: {error}"
                )));
            }
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "PostgreSQL at `{server}` did not answer within {}",
                    humane(timeout)
                )));
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(timeout)
            .connect_with(options)
            .await
            .map_err(|error| {
                StoreError::Unavailable(format!(
                    "cannot connect to PostgreSQL at `{server}`: {error}"
                ))
            })?;
        migrate(&pool).await?;
        let channel = sqlx::query_scalar(&format!("SELECT {CHANNEL_OF_SCHEMA}"))
            .fetch_one(&pool)
            .await
            .map_err(db)?;
        info!(%server, database, %channel, "view store connected");
        Ok(PgStore {
            views: SqlViews {
                writer: pool.clone(),
                reader: pool,
            },
            channel,
        })
    }

    /// The channel this store's commits are announced on: [`COMMIT_CHANNEL`] when the
    /// views live in the `public` schema, `casewatch_commits_` and 16 hexadecimal digits of
    /// the schema name's SHA-256 otherwise.
    pub fn commit_channel(&self) -> &str {
        &self.channel
    }

    /// Closes the connections, waiting for them to finish.
    pub async fn close(&self) {
        self.views.writer.close().await;
    }

    /// Follows the batches every process commits to these views, from now on. Read your
    /// backlog (from your alert cursor, say) after this returns, so that nothing committed
    /// in between goes unnoticed.
    pub async fn commit_feed(&self) -> Result<CommitFeed> {
        let options = PgConnectOptions::clone(&self.views.reader.connect_options());
        // A connection of its own: the listener keeps it for as long as it lives.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(self.views.reader.options().get_acquire_timeout())
            .connect_lazy_with(options);
        let listener = listen(&pool, &self.channel).await?;
        Ok(CommitFeed {
            pool,
            channel: self.channel.clone(),
            listener: Some(listener),
        })
    }
}

impl Dialect for Postgres {
    /// Read committed: the fence and the cursor counter are row updates, which PostgreSQL
    /// re-checks against the latest committed row after waiting for a lock.
    const BEGIN_BATCH: &'static str = "BEGIN";
    /// Read committed takes a snapshot per statement; the digest needs one for all.
    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

    /// `pg_notify` inside the transaction: PostgreSQL delivers it when, and only if, the
    /// transaction commits, and in commit order.
    fn commit_notice(notice: &CommitNotice) -> Option<QueryBuilder<'static, Self>> {
        let mut query = QueryBuilder::new(format!("SELECT pg_notify({CHANNEL_OF_SCHEMA}, "));
        query.push_bind(notice_payload(notice)).push(")");
        Some(query)
    }

    sql_primitives!();
}

view_store!(PgStore);

/// The batches committed to one database by every projector, in commit order, for the
/// processes that read the views without writing them (api replicas): a notice says which
/// partition moved and the highest alert cursor it took, so a subscriber knows when to
/// read on from its own cursor. A notice arrives after its batch is visible to new reads.
#[derive(Debug)]
pub struct CommitFeed {
    /// The listener's own pool of one connection, to reconnect from.
    pool: PgPool,
    channel: String,
    /// `None` after the connection failed: the next call listens again.
    listener: Option<PgListener>,
}

impl CommitFeed {
    /// The next commit. [`CommitEvent::Resync`] when notices may have been lost because
    /// the connection dropped; it is returned once the feed listens again, so a re-read
    /// started then misses nothing. An error means the database is unreachable for now;
    /// the next call connects again and, once it listens, returns `Resync`.
    pub async fn next(&mut self) -> Result<CommitEvent> {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                self.listener = Some(listen(&self.pool, &self.channel).await?);
                return Ok(CommitEvent::Resync);
            };
            match listener.try_recv().await {
                Ok(Some(notification)) => match parse_notice(notification.payload()) {
                    Some(notice) => return Ok(CommitEvent::Commit(notice)),
                    None => warn!(
                        payload = notification.payload(),
                        "malformed commit notice skipped"
                    ),
                },
                // The connection dropped and the listener is listening again.
                Ok(None) => return Ok(CommitEvent::Resync),
                Err(error) => {
                    self.listener = None;
                    return Err(db(error));
                }
            }
        }
    }
}

/// Brings the schema up to date, on a connection of its own that is told no NOTICEs:
/// every start after the first would otherwise log sqlx's `relation "_sqlx_migrations"
/// already exists, skipping` (its `CREATE TABLE IF NOT EXISTS`). Warnings and errors still
/// come back.
async fn migrate(pool: &PgPool) -> Result<()> {
    let options = PgConnectOptions::clone(&pool.connect_options())
        .options([("client_min_messages", "warning")]);
    let quiet = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_lazy_with(options);
    let migrated = MIGRATOR.run(&quiet).await.map_err(migration);
    quiet.close().await;
    migrated
}

async fn listen(pool: &PgPool, channel: &str) -> Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.map_err(db)?;
    listener.listen(channel).await.map_err(db)?;
    Ok(listener)
}

/// `partition next_offset last_cursor`, the cursor 0 when the batch took none.
fn notice_payload(notice: &CommitNotice) -> String {
    format!(
        "{} {} {}",
        notice.partition,
        notice.next_offset,
        notice.last_cursor.unwrap_or(0)
    )
}

/// Reads a payload written by [`notice_payload`].
fn parse_notice(payload: &str) -> Option<CommitNotice> {
    let mut fields = payload.split(' ');
    let partition = fields.next()?.parse().ok()?;
    let next_offset = fields.next()?.parse().ok()?;
    let last_cursor: u64 = fields.next()?.parse().ok()?;
    if fields.next().is_some() {
        return None;
    }
    Some(CommitNotice {
        partition,
        next_offset,
        last_cursor: (last_cursor != 0).then_some(last_cursor),
    })
}

#[cfg(any(test, feature = "testsuite"))]
pub mod testing {
    //! Throwaway schemas in a test database, for the tests of this crate and of the others
    //! (end-to-end tests hand a schema's URL to the processes they start): each test gets a
    //! schema of its own, so tests run in parallel against one database and leave nothing
    //! for the next.
    //!
    //! ```no_run
    //! # async fn example() -> casewatch_store::Result<()> {
    //! use casewatch_store::postgres::{PgStore, testing};
    //!
    //! let Some(base_url) = testing::reachable_database("my_suite").await else {
    //!     return Ok(()); // skipped, and said so on stderr
    //! };
    //! let schema = testing::TestSchema::create(&base_url).await?;
    //! let store = PgStore::connect(&schema.url).await?;
    //! // …
    //! store.close().await;
    //! schema.remove().await?;
    //! # Ok(())
    //! # }
    //! ```

    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher as _, Hasher as _};
    use std::str::FromStr;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use sqlx::postgres::{PgConnectOptions, PgConnection};
    use sqlx::{Connection as _, Executor as _};

    use casewatch_testkit::Need;

    use crate::Result;
    use crate::sql::db;

    /// The variable naming the test database; [`DEFAULT_URL`] when unset.
    pub const URL_VARIABLE: &str = "CASEWATCH_TEST_POSTGRES_URL";
    /// The test database on the developer's machine.
    pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    /// How long the reachability probe waits for the database.
    const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

    /// The test database's URL: `CASEWATCH_TEST_POSTGRES_URL`, or [`DEFAULT_URL`].
    pub fn database_url() -> String {
        std::env::var(URL_VARIABLE).unwrap_or_else(|_| DEFAULT_URL.to_owned())
    }

    /// The test database's URL if it answers. When it does not, the test is skipped (see
    /// [`casewatch_testkit::skip`]; it prints `skipped: PostgreSQL not reachable at <url>`
    /// and names the test and `suite`) and this returns `None`, so the caller returns
    /// early; or, with `CASEWATCH_REQUIRE_POSTGRES=1`, it panics.
    pub async fn reachable_database(suite: &str) -> Option<String> {
        let url = database_url();
        let failure = match tokio::time::timeout(PROBE_TIMEOUT, PgConnection::connect(&url)).await {
            Ok(Ok(conn)) => {
                // A failed goodbye does not make the database unreachable.
                let _ = conn.close().await;
                return Some(url);
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {PROBE_TIMEOUT:?}"),
        };
        casewatch_testkit::skip(
            &format!("{} ({suite})", casewatch_testkit::this_test()),
            Need::Postgres,
            &format!("PostgreSQL not reachable at {url}: {failure}"),
        );
        None
    }

    /// A schema of its own in a test database.
    #[derive(Debug, Clone)]
    pub struct TestSchema {
        /// `casewatch_test_` and 16 random hexadecimal digits.
        pub name: String,
        /// The database's URL with the schema as `search_path`: stores opened with it
        /// create and use their tables there.
        pub url: String,
        base_url: String,
    }

    impl TestSchema {
        /// Creates a fresh, empty schema in the database at `base_url`.
        pub async fn create(base_url: &str) -> Result<TestSchema> {
            let name = schema_name();
            let schema = TestSchema {
                url: schema_url(base_url, &name),
                name,
                base_url: base_url.to_owned(),
            };
            schema
                .run(&format!("CREATE SCHEMA \"{}\"", schema.name))
                .await?;
            Ok(schema)
        }

        /// Connection options for the schema, the same as [`TestSchema::url`]'s.
        pub fn connect_options(&self) -> Result<PgConnectOptions> {
            PgConnectOptions::from_str(&self.url).map_err(db)
        }

        /// Drops the schema and everything in it. Close the stores using it first.
        pub async fn remove(self) -> Result<()> {
            self.run(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name))
                .await
        }

        async fn run(&self, statement: &str) -> Result<()> {
            let mut conn = PgConnection::connect(&self.base_url).await.map_err(db)?;
            conn.execute(statement).await.map_err(db)?;
            conn.close().await.map_err(db)
        }
    }

    /// `base_url` with `search_path` set to `schema` (a plain identifier: nothing to escape).
    fn schema_url(base_url: &str, schema: &str) -> String {
        let separator = if base_url.contains('?') { '&' } else { '?' };
        format!("{base_url}{separator}options=-c%20search_path%3D{schema}")
    }

    /// A name no other test process picks: random per process, counted within it.
    fn schema_name() -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
        hasher.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos()),
        );
        format!("casewatch_test_{:016x}", hasher.finish())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_schema_url_sets_the_search_path() {
            for base in [DEFAULT_URL, "postgres://postgres@db/test?sslmode=disable"] {
                let name = schema_name();
                let options =
                    PgConnectOptions::from_str(&schema_url(base, &name)).expect("the url parses");
                assert_eq!(
                    options.get_options(),
                    Some(format!("-c search_path={name}").as_str())
                );
                assert_eq!(options.get_database(), Some("test"));
            }
            assert_ne!(schema_name(), schema_name());
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection as _;

    use super::*;

    #[test]
    fn notices_read_back_as_written() {
        for notice in [
            CommitNotice {
                partition: 3,
                next_offset: 120,
                last_cursor: Some(77),
            },
            CommitNotice {
                partition: 0,
                next_offset: 1,
                last_cursor: None,
            },
        ] {
            assert_eq!(parse_notice(&notice_payload(&notice)), Some(notice));
        }
        assert_eq!(
            notice_payload(&CommitNotice {
                partition: 3,
                next_offset: 120,
                last_cursor: None,
            }),
            "3 120 0"
        );
    }

    #[tokio::test]
    async fn the_public_schema_announces_on_the_plain_channel() {
        let Some(url) = testing::reachable_database("postgres unit tests").await else {
            return;
        };
        let schema = testing::TestSchema::create(&url).await.expect("schema");
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("connects");
        let mut channel_of = async |search_path: &str| -> String {
            sqlx::query(&format!("SET search_path = {search_path}"))
                .execute(&mut conn)
                .await
                .expect("search path sets");
            sqlx::query_scalar(&format!("SELECT {CHANNEL_OF_SCHEMA}"))
                .fetch_one(&mut conn)
                .await
                .expect("channel computes")
        };
        assert_eq!(channel_of("public").await, COMMIT_CHANNEL);
        let own = channel_of(&schema.name).await;
        assert!(
            own.starts_with("casewatch_commits_") && own.len() == 34,
            "{own}"
        );
        conn.close().await.expect("closes");
        schema.remove().await.expect("schema drops");
    }

    #[test]
    fn malformed_notices_do_not_parse() {
        for payload in [
            "",
            "3",
            "3 120",
            "3 120 7 9",
            "x 120 7",
            "3 -1 7",
            "3  120 7",
        ] {
            assert_eq!(parse_notice(payload), None, "{payload:?}");
        }
    }
}
