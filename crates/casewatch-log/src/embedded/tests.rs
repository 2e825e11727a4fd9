use super::readers::immutable_uri;
use super::*;
use crate::Destination;

#[tokio::test]
async fn a_log_opened_to_read_keeps_its_partitions_and_takes_no_appends() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = EmbeddedLog::open(dir.path(), 3).expect("a new log");
    let record = |partition| NewRecord {
        destination: Destination::Partition(partition),
        bytes: vec![1, 2, 3],
        idempotency_key: None,
        headers: Vec::new(),
    };
    log.append(vec![record(2), record(2)])
        .await
        .expect("appends");
    drop(log);

    let read = EmbeddedLog::open_read_only(dir.path()).expect("opens to read");
    assert_eq!(read.partitions(), 3, "the log's own count");
    assert_eq!(read.high_water(2).await.expect("a partition"), 2);
    assert_eq!(read.read(2, 0, 10).await.expect("reads").len(), 2);
    assert!(matches!(
        read.append(vec![record(0)]).await,
        Err(LogError::Closed)
    ));

    let missing = dir.path().join("nothing-here");
    let error = EmbeddedLog::open_read_only(&missing).expect_err("no log there");
    assert!(error.to_string().contains("there is no log at"), "{error}");
    assert!(!missing.exists(), "reading created nothing");
}

#[test]
fn immutable_uris_escape_what_uris_reserve() {
    assert_eq!(
        immutable_uri(Path::new("/data/a?b#c%d/监察 log.sqlite3")),
        "file:/data/a%3Fb%23c%25d/%E7%9B%91%E5%AF%9F%20log.sqlite3?immutable=1"
    );
}
