//! Statement texts that repeat. A multi-row statement's text depends on how
//! many rows it carries, and every text a connection has not seen is parsed
//! and planned anew and pushes a useful statement out of the connection's
//! cache: with a batch's statements sized by the batch, a tenth of a
//! SQLite mint's CPU went to `sqlite3_prepare`. So the mint path cuts its
//! writes into power-of-two pieces (at most one statement per bit of the
//! count, each text one of a handful), and pads the value lists of its
//! reads to a power of two with their last value (a value repeated in
//! `IN (…)` selects nothing more).

/// Most rows in one piece: a power of two, within both databases' bind
/// limits for the widest row the mint path writes (9 columns).
pub(super) const MAX_PIECE: usize = 512;

/// `items` in pieces whose lengths are powers of two, largest first, none
/// longer than [`MAX_PIECE`].
pub(super) fn pieces<T>(items: &[T]) -> Pieces<'_, T> {
    Pieces { rest: items }
}

/// See [`pieces`].
pub(super) struct Pieces<'a, T> {
    rest: &'a [T],
}

impl<'a, T> Iterator for Pieces<'a, T> {
    type Item = &'a [T];

    fn next(&mut self) -> Option<&'a [T]> {
        if self.rest.is_empty() {
            return None;
        }
        let len = self.rest.len();
        // The largest power of two not above `len` (or the cap).
        let take = MAX_PIECE.min(1 << (usize::BITS - 1 - len.leading_zeros()));
        let (piece, rest) = self.rest.split_at(take);
        self.rest = rest;
        Some(piece)
    }
}

/// The length a read's value list is padded to: the next power of two
/// (an empty list stays empty).
pub(super) fn padded_len(n: usize) -> usize {
    match n {
        0 => 0,
        n => n.next_power_of_two(),
    }
}

/// `values` padded to [`padded_len`] with its last value (nothing when
/// empty), for an `IN (…)` list.
pub(super) fn padded<T>(values: &[T]) -> impl Iterator<Item = &T> {
    let pad = padded_len(values.len()) - values.len();
    values.iter().chain(values.last().into_iter().cycle().take(pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_powers_of_two_that_cover_the_items_in_order() {
        for n in 0..=1100usize {
            let items: Vec<usize> = (0..n).collect();
            let cut: Vec<&[usize]> = pieces(&items).collect();
            assert!(cut.iter().all(|p| p.len().is_power_of_two() && p.len() <= MAX_PIECE));
            assert_eq!(cut.concat(), items, "n = {n}");
            assert!(cut.len() <= n.count_ones() as usize + n / MAX_PIECE, "n = {n}");
        }
    }

    #[test]
    fn padding_repeats_the_last_value_up_to_a_power_of_two() {
        assert_eq!((padded_len(0), padded::<u8>(&[]).count()), (0, 0));
        assert_eq!(padded(&[7]).copied().collect::<Vec<_>>(), [7]);
        assert_eq!(padded(&[1, 2, 3]).copied().collect::<Vec<_>>(), [1, 2, 3, 3]);
        let five = padded(&[1, 2, 3, 4, 5]).copied().collect::<Vec<_>>();
        assert_eq!(five, [1, 2, 3, 4, 5, 5, 5, 5]);
    }
}
