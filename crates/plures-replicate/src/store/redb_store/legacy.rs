//! The first on-disk layout (string-keyed `records`, `winners` and `versions` tables), read
//! once to convert a file to the current layout.

use super::super::encoding::decode_record;
use crate::clock::{Hlc, ReplicaId, Stamp};
use crate::crdt::{Op, VersionVector};
use crate::error::StoreError;
use redb::{ReadableTable, TableDefinition, TableHandle, WriteTransaction};

type OldWinnerKey<'a> = (&'a str, [u8; 16], u64, &'a str, Option<&'a str>);

const RECORDS: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("records");
const WINNERS: TableDefinition<'_, OldWinnerKey<'_>, ()> = TableDefinition::new("winners");
const VERSIONS: TableDefinition<'_, (&str, [u8; 16]), u64> = TableDefinition::new("versions");

/// The contents of a first-layout file: every winner as an operation, and the version
/// vectors (which also count operations that lost their merge).
pub(super) struct Legacy {
    pub(super) ops: Vec<Op>,
    pub(super) versions: Vec<(String, VersionVector)>,
}

/// Reads the first-layout tables, if the file has them.
pub(super) fn take(txn: &WriteTransaction) -> Result<Option<Legacy>, StoreError> {
    if !txn.list_tables()?.any(|t| t.name() == RECORDS.name()) {
        return Ok(None);
    }
    let mut ops = Vec::new();
    for row in txn.open_table(RECORDS)?.iter()? {
        let (key, bytes) = row?;
        let (collection, id) = key.value();
        for (stamp, action) in decode_record(bytes.value())?.actions() {
            ops.push(Op {
                collection: collection.to_owned(),
                id: id.to_owned(),
                stamp,
                action,
            });
        }
    }
    let mut versions: Vec<(String, VersionVector)> = Vec::new();
    if txn.list_tables()?.any(|t| t.name() == VERSIONS.name()) {
        for row in txn.open_table(VERSIONS)?.iter()? {
            let (key, hlc) = row?;
            let (collection, replica) = key.value();
            if versions.last().is_none_or(|(c, _)| c != collection) {
                versions.push((collection.to_owned(), VersionVector::new()));
            }
            if let Some((_, vv)) = versions.last_mut() {
                vv.observe(Stamp::new(Hlc::from_u64(hlc.value()), ReplicaId(replica)));
            }
        }
    }
    Ok(Some(Legacy { ops, versions }))
}

/// Deletes the first-layout tables.
pub(super) fn drop_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.delete_table(RECORDS)?;
    txn.delete_table(WINNERS)?;
    txn.delete_table(VERSIONS)?;
    Ok(())
}
