//! loro behind the `Crdt` trait.

use crate::crdt::Crdt;
use crate::workload::{COLL, FIELDS, Update, initial_value};

pub(crate) struct LoroReplica {
    doc: loro::LoroDoc,
    root: loro::LoroMap,
    recs: Vec<loro::LoroMap>,
}

impl Crdt for LoroReplica {
    fn new(peer: u64) -> Self {
        let doc = loro::LoroDoc::new();
        doc.set_peer_id(peer).expect("peer id");
        let root = doc.get_map(COLL);
        Self {
            doc,
            root,
            recs: Vec::new(),
        }
    }

    fn create(&mut self, rec: usize, id: &str) {
        let m = self
            .root
            .insert_container(id, loro::LoroMap::new())
            .expect("insert");
        for (k, f) in FIELDS.iter().enumerate() {
            m.insert(f, initial_value(rec, k)).expect("insert");
        }
        self.doc.commit();
        self.recs.push(m);
    }

    fn update(&mut self, u: Update, _id: &str) {
        self.recs[u.rec as usize]
            .insert(FIELDS[u.field as usize], i64::from(u.value))
            .expect("insert");
        self.doc.commit();
    }

    fn attach(&mut self, ids: &[String]) {
        self.recs = ids
            .iter()
            .map(|id| match self.root.get(id) {
                Some(loro::ValueOrContainer::Container(loro::Container::Map(m))) => m,
                _ => panic!("record {id} missing"),
            })
            .collect();
    }

    fn version(&self) -> Vec<u8> {
        self.doc.oplog_vv().encode()
    }

    fn diff(&self, version: &[u8]) -> Vec<u8> {
        let vv = loro::VersionVector::decode(version).expect("version");
        self.doc
            .export(loro::ExportMode::updates(&vv))
            .expect("export")
    }

    fn full(&self) -> Vec<u8> {
        self.doc.export(loro::ExportMode::Snapshot).expect("export")
    }

    fn apply(&mut self, bytes: &[u8]) {
        self.doc.import(bytes).expect("import");
    }

    fn field(&self, id: &str, field: usize) -> Option<i64> {
        match self.root.get(id)? {
            loro::ValueOrContainer::Container(loro::Container::Map(m)) => {
                match m.get(FIELDS[field])? {
                    loro::ValueOrContainer::Value(loro::LoroValue::I64(v)) => Some(v),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}
