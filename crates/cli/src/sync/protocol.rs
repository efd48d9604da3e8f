//! The JSON-lines protocol of `plures-sync sync` (pure: parsing and rendering only).
//!
//! One command per stdin line; every reply and event is one JSON object per stdout line
//! with an `ev` field. A command's optional `req` value is copied into its reply.
//!
//! | command | reply |
//! | --- | --- |
//! | `{"op":"put","collection":C,"id":I,"data":{..}}` | `{"ev":"put","collection":C,"id":I}` |
//! | `{"op":"get","collection":C,"id":I}` | `{"ev":"get","collection":C,"id":I,"data":{..}\|null}` |
//! | `{"op":"delete","collection":C,"id":I}` | `{"ev":"deleted","collection":C,"id":I}` |
//! | `{"op":"dump"}` | `{"ev":"dump","records":{C:{I:{..}}}}` (live records only) |
//! | `{"op":"wait","collection":C,"id":I,"data":{..}\|null,"timeout_ms":N}` | `{"ev":"waited","ok":true\|false,..}` once the record holds exactly `data` (`null`: absent or deleted), or after `timeout_ms` (default 30 000) |
//! | `{"op":"status"}` | `{"ev":"status","peers":N,"connections":[{"remote_public_key":..,"read":B,"written":B,"open":bool}]}` (peers whose key verified, connected now; bytes per connection) |
//!
//! A bad command gets `{"ev":"error","message":..}`; the process keeps running.
//!
//! Replies come in command order. A `put` or `deleted` reply means the write is durable
//! (in the store file, committed). Lines that arrive together are taken together, and a
//! run of consecutive `put`/`delete` lines among them is committed as one transaction, so
//! a writer that sends many lines without waiting for each reply is not held to one disk
//! flush per line.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// Live records: collection -> id -> data.
pub(crate) type Records = BTreeMap<String, BTreeMap<String, Map<String, Value>>>;

/// Default (and maximum) time a `wait` command waits.
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(30);
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// One parsed command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    /// Replace the record's data with `data` (fields absent from it are removed).
    Put {
        collection: String,
        id: String,
        data: Map<String, Value>,
    },
    Get {
        collection: String,
        id: String,
    },
    Delete {
        collection: String,
        id: String,
    },
    Dump,
    /// Reply once the record's live data equals `data` (`None`: no live record).
    Wait {
        collection: String,
        id: String,
        data: Option<Map<String, Value>>,
        timeout: Duration,
    },
    Status,
}

/// A command line, parsed: the command and the `req` tag to echo (or an error reply).
pub(crate) fn parse(line: &str) -> Result<(Command, Option<Value>), Value> {
    let v: Value =
        serde_json::from_str(line).map_err(|e| error(None, &format!("not JSON: {e}")))?;
    let Value::Object(mut m) = v else {
        return Err(error(None, "a command is a JSON object"));
    };
    let req = m.remove("req");
    let fail = |msg: &str| error(req.as_ref(), msg);
    let op = match m.get("op") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(fail("missing \"op\"")),
    };
    let text = |m: &Map<String, Value>, name: &str| match m.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(fail(&format!("{op}: missing string \"{name}\""))),
    };
    let cmd = match op.as_str() {
        "put" => Command::Put {
            collection: text(&m, "collection")?,
            id: text(&m, "id")?,
            data: match m.remove("data") {
                Some(Value::Object(d)) => d,
                _ => return Err(fail("put: \"data\" must be an object")),
            },
        },
        "get" => Command::Get {
            collection: text(&m, "collection")?,
            id: text(&m, "id")?,
        },
        "delete" => Command::Delete {
            collection: text(&m, "collection")?,
            id: text(&m, "id")?,
        },
        "dump" => Command::Dump,
        "status" => Command::Status,
        "wait" => Command::Wait {
            collection: text(&m, "collection")?,
            id: text(&m, "id")?,
            data: match m.remove("data") {
                Some(Value::Object(d)) => Some(d),
                Some(Value::Null) | None => None,
                _ => return Err(fail("wait: \"data\" must be an object or null")),
            },
            timeout: match m.get("timeout_ms") {
                None => DEFAULT_WAIT,
                Some(t) => match t.as_u64() {
                    Some(ms) => Duration::from_millis(ms).min(MAX_WAIT),
                    None => return Err(fail("wait: \"timeout_ms\" must be a whole number")),
                },
            },
        },
        other => return Err(fail(&format!("unknown op {other:?}"))),
    };
    Ok((cmd, req))
}

/// An `{"ev":"error"}` reply.
pub(crate) fn error(req: Option<&Value>, message: &str) -> Value {
    tagged(json!({ "ev": "error", "message": message }), req)
}

/// `v` with `req` added when there is one.
pub(crate) fn tagged(mut v: Value, req: Option<&Value>) -> Value {
    if let (Some(r), Some(m)) = (req, v.as_object_mut()) {
        m.insert("req".into(), r.clone());
    }
    v
}

/// The live records, as `{collection: {id: data}}` (collections without live records
/// are left out).
pub(crate) fn dump_value(records: Records) -> Value {
    let records: Map<String, Value> = records
        .into_iter()
        .filter(|(_, r)| !r.is_empty())
        .map(|(c, r)| {
            let r: Map<String, Value> = r.into_iter().map(|(i, d)| (i, Value::Object(d))).collect();
            (c, Value::Object(r))
        })
        .collect();
    json!({ "ev": "dump", "records": records })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        let (c, req) =
            parse(r#"{"op":"put","collection":"n","id":"a","data":{"x":1},"req":7}"#).unwrap();
        assert_eq!(req, Some(json!(7)));
        let mut data = Map::new();
        data.insert("x".into(), json!(1));
        assert_eq!(
            c,
            Command::Put {
                collection: "n".into(),
                id: "a".into(),
                data: data.clone()
            }
        );
        assert_eq!(
            parse(r#"{"op":"get","collection":"n","id":"a"}"#)
                .unwrap()
                .0,
            Command::Get {
                collection: "n".into(),
                id: "a".into()
            }
        );
        assert_eq!(
            parse(r#"{"op":"delete","collection":"n","id":"a"}"#)
                .unwrap()
                .0,
            Command::Delete {
                collection: "n".into(),
                id: "a".into()
            }
        );
        assert_eq!(parse(r#"{"op":"dump"}"#).unwrap().0, Command::Dump);
        assert_eq!(parse(r#"{"op":"status"}"#).unwrap().0, Command::Status);
        assert_eq!(
            parse(r#"{"op":"wait","collection":"n","id":"a","data":{"x":1},"timeout_ms":5}"#)
                .unwrap()
                .0,
            Command::Wait {
                collection: "n".into(),
                id: "a".into(),
                data: Some(data),
                timeout: Duration::from_millis(5)
            }
        );
        assert_eq!(
            parse(r#"{"op":"wait","collection":"n","id":"a","data":null}"#)
                .unwrap()
                .0,
            Command::Wait {
                collection: "n".into(),
                id: "a".into(),
                data: None,
                timeout: DEFAULT_WAIT
            }
        );
    }

    #[test]
    fn bad_commands_get_an_error_reply_with_their_tag() {
        for (line, needle) in [
            ("nope", "not JSON"),
            ("[1]", "JSON object"),
            (r#"{"req":"r"}"#, "missing \"op\""),
            (r#"{"op":"fly","req":"r"}"#, "unknown op"),
            (
                r#"{"op":"put","collection":"n","id":"a","req":"r"}"#,
                "data",
            ),
            (r#"{"op":"get","collection":"n","req":"r"}"#, "\"id\""),
            (
                r#"{"op":"get","collection":"","id":"a","req":"r"}"#,
                "collection",
            ),
            (
                r#"{"op":"wait","collection":"n","id":"a","timeout_ms":-1,"req":"r"}"#,
                "timeout_ms",
            ),
        ] {
            let e = parse(line).unwrap_err();
            assert_eq!(e["ev"], "error", "{line}");
            let msg = e["message"].as_str().unwrap();
            assert!(msg.contains(needle), "{line}: {msg}");
            if line.contains("\"req\"") {
                assert_eq!(e["req"], "r", "{line}");
            }
        }
    }

    #[test]
    fn dump_leaves_out_empty_collections() {
        let mut records = BTreeMap::new();
        let mut n = BTreeMap::new();
        let mut d = Map::new();
        d.insert("x".into(), json!(1));
        n.insert("a".to_string(), d);
        records.insert("n".to_string(), n);
        records.insert("empty".to_string(), BTreeMap::new());
        assert_eq!(
            dump_value(records),
            json!({"ev":"dump","records":{"n":{"a":{"x":1}}}})
        );
    }
}
