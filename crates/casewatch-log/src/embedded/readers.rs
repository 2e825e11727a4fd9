//! The read-only connections, lent out to tokio's blocking pool one read at a time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::lock;
use super::schema::Statements;
use crate::{LogError, Result, unavailable};

/// The read-only connections, lent out to blocking tasks one at a time.
pub(super) struct Readers {
    pub(super) path: PathBuf,
    /// Open the file as an immutable snapshot (see
    /// [`EmbeddedLog::open_read_only`](super::EmbeddedLog::open_read_only)).
    pub(super) immutable: bool,
    pub(super) busy_timeout: Duration,
    pub(super) idle: Mutex<Vec<Connection>>,
    /// Bounds the reads running at once, hence the connections open.
    pub(super) permits: Arc<Semaphore>,
    pub(super) statements: Arc<Statements>,
}

impl Readers {
    /// Runs `read` on a read-only connection in tokio's blocking pool.
    pub(super) async fn run<T, F>(self: &Arc<Self>, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Statements) -> rusqlite::Result<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| LogError::Closed)?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            // Held until the connection is back, even if the caller stopped waiting.
            let _permit = permit;
            let conn = readers.take()?;
            let result = read(&conn, &readers.statements);
            readers.give_back(conn);
            result.map_err(|e| unavailable("cannot read the log", &e))
        })
        .await
        .map_err(|e| LogError::Unavailable(format!("the read task failed: {e}")))?
    }

    fn take(&self) -> Result<Connection> {
        let idle = lock(&self.idle).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    pub(super) fn give_back(&self, conn: Connection) {
        lock(&self.idle).push(conn);
    }

    pub(super) fn connect(&self) -> Result<Connection> {
        let conn = open_reader(&self.path, self.immutable, self.busy_timeout)?;
        conn.set_prepared_statement_cache_capacity(self.statements.read.len() + 4);
        Ok(conn)
    }
}

/// A read-only connection to the log's file; an immutable one reads the file as it stands,
/// with no locks and no write-ahead log.
pub(super) fn open_reader(
    path: &Path,
    immutable: bool,
    busy_timeout: Duration,
) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if immutable {
        Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI)
    } else {
        Connection::open_with_flags(path, flags)
    }
    .map_err(|e| unavailable("cannot open a log reader", &e))?;
    conn.busy_timeout(busy_timeout)
        .map_err(|e| unavailable("cannot configure a log reader", &e))?;
    Ok(conn)
}

/// `file:PATH?immutable=1`, the path escaped as a URI path (SQLite decodes each `%XX` to
/// its byte, so a path of any bytes survives).
pub(super) fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_graphic() && !matches!(byte, b'%' | b'?' | b'#') {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}
