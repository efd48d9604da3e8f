//! yrs behind the `Crdt` trait.

use crate::crdt::Crdt;
use crate::workload::{COLL, FIELDS, Update, initial_value};

pub(crate) struct YrsReplica {
    doc: yrs::Doc,
    root: yrs::MapRef,
    recs: Vec<yrs::MapRef>,
}

impl Crdt for YrsReplica {
    fn new(peer: u64) -> Self {
        let doc = yrs::Doc::with_client_id(peer);
        let root = doc.get_or_insert_map(COLL);
        Self {
            doc,
            root,
            recs: Vec::new(),
        }
    }

    fn create(&mut self, rec: usize, id: &str) {
        use yrs::{Any, Map, MapPrelim, Number, Transact};
        let prelim = MapPrelim::from([
            (FIELDS[0], Any::Number(Number::Int(initial_value(rec, 0)))),
            (FIELDS[1], Any::Number(Number::Int(initial_value(rec, 1)))),
            (FIELDS[2], Any::Number(Number::Int(initial_value(rec, 2)))),
        ]);
        let mut txn = self.doc.transact_mut();
        let m = self.root.insert(&mut txn, id, prelim);
        drop(txn);
        self.recs.push(m);
    }

    fn update(&mut self, u: Update, _id: &str) {
        use yrs::{Any, Map, Number, Transact};
        let mut txn = self.doc.transact_mut();
        self.recs[u.rec as usize].insert(
            &mut txn,
            FIELDS[u.field as usize],
            Any::Number(Number::Int(i64::from(u.value))),
        );
    }

    fn attach(&mut self, ids: &[String]) {
        use yrs::{Map, Out, Transact};
        let txn = self.doc.transact();
        self.recs = ids
            .iter()
            .map(|id| match self.root.get(&txn, id) {
                Some(Out::YMap(m)) => m,
                _ => panic!("record {id} missing"),
            })
            .collect();
    }

    fn version(&self) -> Vec<u8> {
        use yrs::updates::encoder::Encode;
        use yrs::{ReadTxn, Transact};
        self.doc.transact().state_vector().encode_v1()
    }

    fn diff(&self, version: &[u8]) -> Vec<u8> {
        use yrs::updates::decoder::Decode;
        use yrs::{ReadTxn, StateVector, Transact};
        let sv = StateVector::decode_v1(version).expect("state vector");
        self.doc.transact().encode_state_as_update_v2(&sv)
    }

    fn full(&self) -> Vec<u8> {
        use yrs::{ReadTxn, StateVector, Transact};
        self.doc
            .transact()
            .encode_state_as_update_v2(&StateVector::default())
    }

    fn apply(&mut self, bytes: &[u8]) {
        use yrs::updates::decoder::Decode;
        use yrs::{Transact, Update};
        let update = Update::decode_v2(bytes).expect("update");
        self.doc
            .transact_mut()
            .apply_update(update)
            .expect("apply update");
    }

    fn field(&self, id: &str, field: usize) -> Option<i64> {
        use yrs::{Any, Map, Out, Transact};
        let txn = self.doc.transact();
        match self.root.get(&txn, id)? {
            Out::YMap(m) => match m.get(&txn, FIELDS[field])? {
                Out::Any(Any::Number(v)) => v.as_i64(),
                _ => None,
            },
            _ => None,
        }
    }
}
