use super::*;
use crate::core::{HoldWith, Phase};

fn rec() -> Record {
    serde_json::from_value(serde_json::json!({
        "phase": "waiting", "reason": "task_failed", "target": "db:1521",
        "started_at": 1000, "held_at": 1000, "hold_with": "pause"
    }))
    .unwrap()
}

#[tokio::test]
async fn round_trips_per_key_changes_and_missing_file_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStore::new(dir.path().join("state.json"));
    assert_eq!(s.load().await.unwrap().connectors.len(), 0);
    s.apply(&[
        Change::PutRecord("inv".into(), Box::new(rec())),
        Change::PutRecord("crm".into(), Box::new(rec())),
        Change::PutHandedBack("orders".into(), 5),
    ])
    .await
    .unwrap();
    s.apply(&[Change::DeleteRecord("crm".into())])
        .await
        .unwrap();
    let back = FileStore::new(dir.path().join("state.json"))
        .load()
        .await
        .unwrap();
    assert_eq!(back.connectors.keys().collect::<Vec<_>>(), ["inv"]);
    assert_eq!(back.connectors["inv"].phase, Phase::Waiting);
    assert_eq!(back.connectors["inv"].hold_with, HoldWith::Pause);
    assert_eq!(back.handed_back["orders"], 5);
    assert_eq!(back.version, STATE_VERSION);
    // No temp files left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[tokio::test]
async fn corrupt_newer_or_directory_files_are_errors_not_resets() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("state.json");
    std::fs::write(&p, b"{\"version\":1,\"connectors\":{\"inv\":").unwrap();
    let e = FileStore::new(&p).load().await.unwrap_err().to_string();
    assert!(e.contains("corrupt") && e.contains("state.json"), "{e}");
    std::fs::write(&p, b"{\"version\":99}").unwrap();
    let e = FileStore::new(&p).load().await.unwrap_err().to_string();
    assert!(e.contains("newer"), "{e}");
    let e = FileStore::new(dir.path())
        .load()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("directory"), "{e}");
}

#[tokio::test]
async fn unwritable_directory_is_a_clear_error() {
    let e = FileStore::new("/nonexistent-dir/x/state.json")
        .apply(&[])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/nonexistent-dir/x") && e.contains("--state-file") && e.contains("uid"),
        "{e}"
    );
    let e = FileStore::new("/nonexistent-dir/x/state.json")
        .preflight()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("writable"), "{e}");
}

#[test]
fn diff_is_the_per_key_changes() {
    let mut a = Durable::empty();
    a.connectors.insert("x".into(), rec());
    a.handed_back.insert("h".into(), 1);
    let mut b = a.clone();
    b.connectors.remove("x");
    b.connectors.insert("y".into(), rec());
    b.handed_back.insert("h".into(), 2);
    let d = a.diff(&b);
    let mut applied = a.clone();
    for c in &d {
        applied.apply(c);
    }
    assert_eq!(applied, b);
    assert_eq!(d.len(), 3);
    assert!(a.diff(&a).is_empty());
}
