//! The commands of `plures-sync sync` against the engine, and the identity kept in the
//! store's metadata (replica id; the sync key itself is the engine's).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use plures_replicate::sync::{SyncEngine, SyncEvent};
use plures_replicate::{Action, RedbStore, ReplicaId, Store, SyncKey, VersionVector};
use rand_core::{OsRng, UnwrapErr};
use serde_json::{Map, Value, json};

use super::protocol::{Command, Records, dump_value, error, tagged};

/// The engine of this process.
pub(crate) type Engine = SyncEngine<RedbStore>;

/// Metadata entry holding this store's replica id (16 bytes), so a restarted process
/// continues the same replica.
const REPLICA_META: &str = "plures-sync.replica";

/// The sync key of `--key`: 64 hex digits, or `@FILE` holding them (surrounding white
/// space ignored). The error never contains the key.
pub(crate) fn read_key(arg: &str) -> Result<SyncKey, String> {
    let text = match arg.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("--key: cannot read {path}: {e}"))?
        }
        None => arg.to_owned(),
    };
    SyncKey::from_hex(text.trim())
        .map_err(|_| "--key: expected 64 hex digits (or @FILE holding them)".to_owned())
}

/// Opens (or creates) the store at `path` and returns it with its replica id, generated
/// and stored on first use.
pub(crate) fn open_store(path: &Path) -> Result<(RedbStore, ReplicaId), String> {
    let mut store =
        RedbStore::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let stored = store
        .meta(REPLICA_META)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let replica = match stored {
        Some(bytes) => {
            let bytes: [u8; 16] = bytes
                .try_into()
                .map_err(|_| format!("{}: corrupt replica id in the metadata", path.display()))?;
            ReplicaId::from_bytes(bytes)
        }
        None => {
            let r = ReplicaId::generate(&mut UnwrapErr(OsRng));
            store
                .set_meta(REPLICA_META, Some(r.as_bytes()))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            r
        }
    };
    Ok((store, replica))
}

/// The live data of a record, `None` when absent or deleted.
pub(crate) fn live(
    engine: &Engine,
    collection: &str,
    id: &str,
) -> Result<Option<Map<String, Value>>, String> {
    engine
        .get(collection, id)
        .map(|r| r.and_then(|r| r.data()))
        .map_err(|e| e.to_string())
}

/// Every live record, per collection and id.
pub(crate) fn dump(engine: &Engine) -> Result<Records, String> {
    engine.with_store(|store| {
        let mut out = BTreeMap::new();
        for c in store.collections().map_err(|e| e.to_string())? {
            let ids: BTreeSet<String> = store
                .ops_since(&c, &VersionVector::new(), usize::MAX)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|op| op.id)
                .collect();
            let mut records = BTreeMap::new();
            for id in ids {
                if let Some(data) = store
                    .get(&c, &id)
                    .map_err(|e| e.to_string())?
                    .and_then(|r| r.data())
                {
                    records.insert(id, data);
                }
            }
            out.insert(c, records);
        }
        Ok(out)
    })
}

/// Runs a command that needs no waiting and returns its reply. `Wait` is the caller's.
pub(crate) fn execute(engine: &Engine, cmd: Command, req: Option<&Value>) -> Value {
    let reply = match cmd {
        Command::Put {
            collection,
            id,
            data,
        } => put(engine, &collection, &id, data)
            .map(|()| json!({ "ev": "put", "collection": collection, "id": id })),
        Command::Get { collection, id } => live(engine, &collection, &id)
            .map(|d| json!({ "ev": "get", "collection": collection, "id": id, "data": d })),
        Command::Delete { collection, id } => engine
            .delete(&collection, &id)
            .map(|_| json!({ "ev": "deleted", "collection": collection, "id": id }))
            .map_err(|e| e.to_string()),
        Command::Dump => dump(engine).map(dump_value),
        // The caller adds the peer and connection counts.
        Command::Status => Ok(json!({ "ev": "status" })),
        Command::Wait { .. } => Err("wait is asynchronous".into()),
    };
    match reply {
        Ok(v) => tagged(v, req),
        Err(e) => error(req, &e),
    }
}

/// Replaces the record's data: one write that sets every field of `data` and removes the
/// live fields it lacks.
fn put(
    engine: &Engine,
    collection: &str,
    id: &str,
    data: Map<String, Value>,
) -> Result<(), String> {
    let old = live(engine, collection, id)?.unwrap_or_default();
    put_over(engine, collection, id, &old, &data)
}

/// [`put`] with the record's live data `old` already known.
fn put_over(
    engine: &Engine,
    collection: &str,
    id: &str,
    old: &Map<String, Value>,
    data: &Map<String, Value>,
) -> Result<(), String> {
    let mut actions: Vec<Action> = old
        .keys()
        .filter(|f| !data.contains_key(*f))
        .map(|f| Action::Remove { field: f.clone() })
        .collect();
    actions.extend(data.iter().map(|(field, value)| Action::Set {
        field: field.clone(),
        value: value.clone(),
    }));
    if actions.is_empty() {
        // `{}` on an absent record: nothing to write.
        return Ok(());
    }
    engine
        .write(collection, id, actions)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Whether `cmd` is a write that [`execute_writes`] takes.
pub(crate) fn is_write(cmd: &Command) -> bool {
    matches!(cmd, Command::Put { .. } | Command::Delete { .. })
}

/// Runs a run of consecutive `put` and `delete` commands as one group commit (the engine
/// must have group commit on, see `SyncEngine::set_group_commit`) and returns their
/// replies in order. The live data of every record a put replaces is read first, while
/// nothing is buffered (so the reads commit nothing); then every write is buffered,
/// later puts of the same record replacing what the earlier ones wrote; then one flush
/// applies them all in one transaction. A write's reply is only positive once that flush
/// returned `Ok`: it is then durable, exactly as a write applied on its own.
pub(crate) fn execute_writes(engine: &Engine, cmds: Vec<(Command, Option<Value>)>) -> Vec<Value> {
    let mut known: HashMap<(String, String), Map<String, Value>> = HashMap::new();
    let mut results: Vec<(Result<Value, String>, Option<Value>)> = Vec::with_capacity(cmds.len());
    let mut read_error = None;
    for (cmd, _) in &cmds {
        if let Command::Put { collection, id, .. } = cmd {
            let key = (collection.clone(), id.clone());
            if known.contains_key(&key) {
                continue;
            }
            match live(engine, collection, id) {
                Ok(old) => {
                    known.insert(key, old.unwrap_or_default());
                }
                Err(e) => read_error = Some(e),
            }
        }
    }
    let empty = Map::new();
    for (cmd, req) in cmds {
        let result = match (cmd, &read_error) {
            (_, Some(e)) => Err(e.clone()),
            (
                Command::Put {
                    collection,
                    id,
                    data,
                },
                None,
            ) => {
                let key = (collection, id);
                let old = known.get(&key).unwrap_or(&empty);
                let reply = put_over(engine, &key.0, &key.1, old, &data)
                    .map(|()| json!({ "ev": "put", "collection": key.0, "id": key.1 }));
                if reply.is_ok() {
                    known.insert(key, data);
                }
                reply
            }
            (Command::Delete { collection, id }, None) => {
                let reply = engine
                    .delete(&collection, &id)
                    .map_err(|e| e.to_string())
                    .map(|_| json!({ "ev": "deleted", "collection": collection, "id": id }));
                if reply.is_ok() {
                    known.insert((collection, id), Map::new());
                }
                reply
            }
            (_, None) => Err("not a write".to_owned()),
        };
        results.push((result, req));
    }
    let flushed = engine.flush().map_err(|e| e.to_string());
    results
        .into_iter()
        .map(
            |(result, req)| match result.and_then(|v| flushed.clone().map(|()| v)) {
                Ok(v) => tagged(v, req.as_ref()),
                Err(e) => error(req.as_ref(), &e),
            },
        )
        .collect()
}

/// Waits until the record's live data is `want` or `timeout` passes, then replies.
pub(crate) async fn wait(
    engine: Arc<Engine>,
    collection: String,
    id: String,
    want: Option<Map<String, Value>>,
    timeout: std::time::Duration,
    req: Option<Value>,
) -> Value {
    let mut changes = engine.changes();
    let check = async {
        loop {
            changes.borrow_and_update();
            match live(&engine, &collection, &id) {
                Ok(have) if have == want => return Ok(have),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            if changes.changed().await.is_err() {
                return Err("the engine stopped".to_owned());
            }
        }
    };
    let reply = match tokio::time::timeout(timeout, check).await {
        Ok(Ok(data)) => {
            json!({ "ev": "waited", "ok": true, "collection": collection, "id": id, "data": data })
        }
        Ok(Err(e)) => return error(req.as_ref(), &e),
        Err(_) => {
            let data = live(&engine, &collection, &id).ok().flatten();
            json!({ "ev": "waited", "ok": false, "collection": collection, "id": id, "data": data })
        }
    };
    tagged(reply, req.as_ref())
}

/// The JSON line of an engine event.
pub(crate) fn event_line(e: &SyncEvent) -> Option<Value> {
    let hex = |r: &ReplicaId| hex::encode(r.as_bytes());
    Some(match e {
        SyncEvent::PeerConnected { peer } => json!({ "ev": "peer_connected", "peer": hex(peer) }),
        SyncEvent::PeerDisconnected { peer, reason } => json!({
            "ev": "peer_disconnected", "peer": hex(peer), "reason": format!("{reason:?}"),
        }),
        SyncEvent::PeerRejected { reason } => {
            json!({ "ev": "peer_rejected", "reason": format!("{reason:?}") })
        }
        SyncEvent::SyncComplete { peer, collections } => json!({
            "ev": "sync_complete", "peer": hex(peer), "collections": collections,
        }),
        SyncEvent::KeyRotated { epoch } => json!({ "ev": "key_rotated", "epoch": epoch }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_from_hex_and_files_without_echoing_them() {
        let hex = "ab".repeat(32);
        assert_eq!(read_key(&hex).unwrap().to_hex(), hex);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, format!("{hex}\n")).unwrap();
        assert_eq!(
            read_key(&format!("@{}", file.display())).unwrap().to_hex(),
            hex
        );
        let bad = "cd".repeat(31);
        let e = read_key(&bad).unwrap_err();
        assert!(!e.contains(&bad), "{e}");
        assert!(read_key("@/nonexistent/key").is_err());
    }

    #[tokio::test]
    async fn put_replaces_dump_lists_live_records_and_ids_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let (store, replica) = open_store(&path).unwrap();
        let engine = Engine::new(store, replica).unwrap();
        let obj = |v: Value| v.as_object().unwrap().clone();
        put(&engine, "n", "a", obj(json!({"x": 1, "y": 2}))).unwrap();
        put(&engine, "n", "a", obj(json!({"y": 3}))).unwrap();
        put(&engine, "n", "b", obj(json!({"z": true}))).unwrap();
        engine.delete("n", "b").unwrap();
        put(&engine, "m", "c", obj(json!({"s": "t"}))).unwrap();
        let want = json!({"ev":"dump","records":{"m":{"c":{"s":"t"}},"n":{"a":{"y":3}}}});
        assert_eq!(dump_value(dump(&engine).unwrap()), want);
        drop(engine);
        // Reopened: same replica, same records.
        let (store, again) = open_store(&path).unwrap();
        assert_eq!(again, replica);
        let engine = Engine::new(store, again).unwrap();
        assert_eq!(dump_value(dump(&engine).unwrap()), want);
    }

    /// A run of writes committed together gives the same replies, in the same order, and
    /// the same records as the same commands applied one by one without group commit (the
    /// path every command took before): random puts (replacing, emptying, repeated within
    /// a run), deletes and writes to a collection name the engine refuses.
    #[tokio::test]
    async fn a_run_of_writes_commits_as_the_commands_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str| {
            let (store, replica) = open_store(&dir.path().join(name)).unwrap();
            Engine::new(store, replica).unwrap()
        };
        let (single, grouped) = (open("single.redb"), open("grouped.redb"));
        grouped.set_group_commit(1 << 14).unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let collections = ["n", "m", "*"];
        for round in 0..40 {
            let mut run = Vec::new();
            for i in 0..=next(12) {
                let collection = collections[next(3) as usize].to_owned();
                let id = format!("r{}", next(4));
                let req = Some(json!(format!("{round}.{i}")));
                let cmd = if next(5) == 0 {
                    Command::Delete { collection, id }
                } else {
                    let mut data = Map::new();
                    for f in ["x", "y", "z"] {
                        if next(2) == 0 {
                            data.insert(f.to_owned(), json!(next(100)));
                        }
                    }
                    Command::Put {
                        collection,
                        id,
                        data,
                    }
                };
                run.push((cmd, req));
            }
            let one_by_one: Vec<Value> = run
                .iter()
                .map(|(cmd, req)| execute(&single, cmd.clone(), req.as_ref()))
                .collect();
            assert_eq!(execute_writes(&grouped, run), one_by_one, "round {round}");
            assert_eq!(
                dump_value(dump(&grouped).unwrap()),
                dump_value(dump(&single).unwrap()),
                "round {round}"
            );
        }
        assert!(
            dump(&single)
                .unwrap()
                .values()
                .map(|r| r.len())
                .sum::<usize>()
                > 2,
            "the runs leave records"
        );
    }
}
