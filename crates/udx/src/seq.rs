//! 32-bit modular sequence-number arithmetic (libudx `seq_diff`/`seq_compare`).
//!
//! Sequence numbers count packets and wrap at 2^32. `a` is "before" `b` when the signed
//! 32-bit difference `a - b` is negative, so comparisons are meaningful only between
//! numbers less than 2^31 apart. At exactly 2^31 apart the difference is `i32::MIN` and
//! `a` counts as before `b` in both directions, as in the reference.

use std::cmp::Ordering;

/// The signed distance from `b` to `a`: `(a - b) as i32`.
#[must_use]
pub const fn seq_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// Compares two sequence numbers modulo 2^32.
#[must_use]
pub const fn seq_cmp(a: u32, b: u32) -> Ordering {
    let d = seq_diff(a, b);
    if d < 0 {
        Ordering::Less
    } else if d > 0 {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// `a` comes before `b`.
#[must_use]
pub const fn seq_lt(a: u32, b: u32) -> bool {
    seq_diff(a, b) < 0
}

/// `a` comes before `b` or equals it.
#[must_use]
pub const fn seq_le(a: u32, b: u32) -> bool {
    seq_diff(a, b) <= 0
}

/// `a` comes after `b`.
#[must_use]
pub const fn seq_gt(a: u32, b: u32) -> bool {
    seq_diff(a, b) > 0
}

/// `a` comes after `b` or equals it.
#[must_use]
pub const fn seq_ge(a: u32, b: u32) -> bool {
    seq_diff(a, b) >= 0
}

/// The later of two sequence numbers (`a` when they are equal).
#[must_use]
pub const fn seq_max(a: u32, b: u32) -> u32 {
    if seq_lt(a, b) { b } else { a }
}

/// The earlier of two sequence numbers (`a` when they are equal).
#[must_use]
pub const fn seq_min(a: u32, b: u32) -> u32 {
    if seq_gt(a, b) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_order() {
        assert_eq!(seq_diff(5, 3), 2);
        assert_eq!(seq_diff(3, 5), -2);
        assert!(seq_lt(3, 5) && seq_le(3, 5) && !seq_gt(3, 5) && !seq_ge(3, 5));
        assert!(seq_le(4, 4) && seq_ge(4, 4) && !seq_lt(4, 4) && !seq_gt(4, 4));
        assert_eq!(seq_cmp(7, 7), Ordering::Equal);
    }

    #[test]
    fn wraps_around() {
        assert_eq!(seq_diff(0, u32::MAX), 1);
        assert_eq!(seq_diff(u32::MAX, 0), -1);
        assert!(seq_lt(u32::MAX, 0));
        assert!(seq_gt(2, u32::MAX - 2));
        assert_eq!(seq_cmp(1, u32::MAX), Ordering::Greater);
        assert_eq!(seq_max(u32::MAX - 1, 3), 3);
        assert_eq!(seq_min(u32::MAX - 1, 3), u32::MAX - 1);
    }

    #[test]
    fn half_range_is_before_both_ways() {
        let half = 1u32 << 31;
        assert_eq!(seq_diff(0, half), i32::MIN);
        assert_eq!(seq_diff(half, 0), i32::MIN);
        assert!(seq_lt(0, half) && seq_lt(half, 0));
    }

    proptest! {
        #[test]
        fn offset_by_small_step(a: u32, d in 1u32..(1 << 31)) {
            let b = a.wrapping_add(d);
            prop_assert!(seq_lt(a, b));
            prop_assert!(seq_gt(b, a));
            prop_assert_eq!(seq_diff(b, a), d as i32);
            prop_assert_eq!(seq_cmp(a, b), Ordering::Less);
            prop_assert_eq!(seq_max(a, b), b);
            prop_assert_eq!(seq_min(a, b), a);
        }

        #[test]
        fn antisymmetric_away_from_half(a: u32, b: u32) {
            prop_assume!(a.wrapping_sub(b) != 1 << 31);
            prop_assert_eq!(seq_cmp(a, b), seq_cmp(b, a).reverse());
            prop_assert_eq!(seq_diff(a, b), seq_diff(b, a).wrapping_neg());
        }
    }
}
