//! [`Fields`]: the field winners of one record, the first few stored inline.
//!
//! Most records have a handful of fields; keeping their winners inside the record (rather
//! than in a `Vec` of their own) saves the merge of an operation one pointer chase, and so
//! one cache miss, per operation. More fields than [`INLINE`] move to a `Vec`.

use super::layout::W;
use std::ops::{Index, IndexMut};

/// Field winners kept inline.
const INLINE: usize = 4;

const EMPTY: (u32, W) = (
    0,
    W {
        hlc: 0,
        chunk: 0,
        rno: 0,
        idx: 0,
    },
);

/// `(slot, winner)` per visible field, in insertion order.
#[derive(Clone, Debug)]
pub(super) enum Fields {
    Inline { len: u8, items: [(u32, W); INLINE] },
    Heap(Vec<(u32, W)>),
}

impl Default for Fields {
    fn default() -> Self {
        Self::Inline {
            len: 0,
            items: [EMPTY; INLINE],
        }
    }
}

impl Fields {
    pub(super) fn as_slice(&self) -> &[(u32, W)] {
        match self {
            Self::Inline { len, items } => &items[..usize::from(*len)],
            Self::Heap(v) => v,
        }
    }

    pub(super) fn as_mut_slice(&mut self) -> &mut [(u32, W)] {
        match self {
            Self::Inline { len, items } => &mut items[..usize::from(*len)],
            Self::Heap(v) => v,
        }
    }

    pub(super) fn iter(&self) -> std::slice::Iter<'_, (u32, W)> {
        self.as_slice().iter()
    }

    pub(super) fn iter_mut(&mut self) -> std::slice::IterMut<'_, (u32, W)> {
        self.as_mut_slice().iter_mut()
    }

    pub(super) fn push(&mut self, f: (u32, W)) {
        match self {
            Self::Inline { len, items } if usize::from(*len) < INLINE => {
                items[usize::from(*len)] = f;
                *len += 1;
            }
            Self::Inline { items, .. } => {
                let mut v = Vec::with_capacity(2 * INLINE);
                v.extend_from_slice(items);
                v.push(f);
                *self = Self::Heap(v);
            }
            Self::Heap(v) => v.push(f),
        }
    }

    /// Keeps the winners for which `keep` holds, in order.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&(u32, W)) -> bool) {
        match self {
            Self::Inline { len, items } => {
                let mut kept = 0u8;
                for i in 0..usize::from(*len) {
                    if keep(&items[i]) {
                        items[usize::from(kept)] = items[i];
                        kept += 1;
                    }
                }
                *len = kept;
            }
            Self::Heap(v) => v.retain(keep),
        }
    }
}

impl Index<usize> for Fields {
    type Output = (u32, W);

    fn index(&self, i: usize) -> &(u32, W) {
        &self.as_slice()[i]
    }
}

impl IndexMut<usize> for Fields {
    fn index_mut(&mut self, i: usize) -> &mut (u32, W) {
        &mut self.as_mut_slice()[i]
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = &'a (u32, W);
    type IntoIter = std::slice::Iter<'a, (u32, W)>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(n: u64) -> W {
        W {
            hlc: n,
            chunk: n * 10,
            rno: 0,
            idx: u32::try_from(n).unwrap_or(0),
        }
    }

    /// Against a `Vec` model: pushes past the inline capacity and retains in between.
    #[test]
    fn behaves_like_a_vec() {
        let mut f = Fields::default();
        let mut model: Vec<(u32, W)> = Vec::new();
        for n in 1..=12u32 {
            f.push((n, w(u64::from(n))));
            model.push((n, w(u64::from(n))));
            assert_eq!(f.as_slice(), model.as_slice());
            if n % 3 == 0 {
                let keep = |e: &(u32, W)| e.0 % 2 == 1 || e.0 == n;
                f.retain(keep);
                model.retain(keep);
                assert_eq!(f.as_slice(), model.as_slice());
            }
            if let Some(at) = model.iter().position(|e| e.0 == n) {
                f[at].1.idx += 100;
                model[at].1.idx += 100;
            }
            assert_eq!(f.iter().copied().collect::<Vec<_>>(), model);
        }
    }
}
