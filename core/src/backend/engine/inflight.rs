//! The in-flight table: which packet the kernel holds under which token.
//!
//! Fixed capacity, O(1) insert and lookup. A token is the slot index with a
//! generation in the high half; the generation changes every time a slot is
//! reused, so a completion for a token that is no longer in flight (seen
//! twice, or invented) finds nothing instead of someone else's buffer.

use crate::packet::Pkt;

const NONE: u32 = u32::MAX;

/// One entry of an in-flight table. Storage for a table is any
/// `AsMut<[Slot]>`: a `Vec<Slot>`, a boxed slice, or an array for `no_std`.
#[derive(Debug)]
pub struct Slot {
    pkt: Option<Pkt>,
    generation: u32,
    /// Bytes the operation is expected to transfer (Tx short-write check).
    expect: u32,
    next_free: u32,
}

impl Slot {
    /// An empty slot.
    pub const EMPTY: Slot = Slot {
        pkt: None,
        generation: 0,
        expect: 0,
        next_free: NONE,
    };
}

impl Default for Slot {
    fn default() -> Self {
        Slot::EMPTY
    }
}

/// Packets lent to the kernel, by token.
pub struct InflightTable<S> {
    slots: S,
    free_head: u32,
    used: usize,
}

/// A token's slot index.
pub(crate) fn slot_of(token: u64) -> usize {
    (token & 0xffff_ffff) as usize
}

fn token_of(idx: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | idx as u64
}

impl<S: AsMut<[Slot]> + AsRef<[Slot]>> InflightTable<S> {
    /// A table over `slots` (all must be empty); its capacity is their count.
    pub fn new(mut slots: S) -> Self {
        let s = slots.as_mut();
        assert!(s.len() < NONE as usize, "in-flight table too large");
        let n = s.len();
        for (i, slot) in s.iter_mut().enumerate() {
            assert!(slot.pkt.is_none(), "in-flight storage must start empty");
            slot.next_free = if i + 1 < n { (i + 1) as u32 } else { NONE };
        }
        InflightTable {
            slots,
            free_head: if n == 0 { NONE } else { 0 },
            used: 0,
        }
    }

    /// Slots in the table.
    pub fn capacity(&self) -> usize {
        self.slots.as_ref().len()
    }

    /// Packets in flight.
    pub fn len(&self) -> usize {
        self.used
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// True when no slot is free.
    pub fn is_full(&self) -> bool {
        self.free_head == NONE
    }

    /// Records `pkt` as in flight; returns its token, or the packet back
    /// when the table is full.
    pub fn insert(&mut self, pkt: Pkt, expect: u32) -> Result<u64, Pkt> {
        if self.free_head == NONE {
            return Err(pkt);
        }
        let idx = self.free_head as usize;
        let slot = &mut self.slots.as_mut()[idx];
        self.free_head = slot.next_free;
        slot.generation = slot.generation.wrapping_add(1);
        slot.pkt = Some(pkt);
        slot.expect = expect;
        self.used += 1;
        Ok(token_of(idx, slot.generation))
    }

    /// Takes back the packet in flight under `token`, with the byte count
    /// it was posted with; `None` when the token is not in flight.
    pub fn take(&mut self, token: u64) -> Option<(Pkt, u32)> {
        let idx = slot_of(token);
        let generation = (token >> 32) as u32;
        let slot = self.slots.as_mut().get_mut(idx)?;
        if slot.generation != generation && !super::mutation::on(super::mutation::IGNORE_GENERATION)
        {
            return None;
        }
        let pkt = slot.pkt.take()?;
        slot.next_free = self.free_head;
        self.free_head = idx as u32;
        self.used -= 1;
        Some((pkt, slot.expect))
    }

    /// Takes back every packet in flight.
    pub fn drain(&mut self, mut f: impl FnMut(Pkt)) {
        let n = self.capacity();
        for idx in 0..n {
            let token = token_of(idx, self.slots.as_ref()[idx].generation);
            if let Some((pkt, _)) = self.take(token) {
                f(pkt);
            }
        }
    }
}

/// Packets parked at fixed positions (the buffer ids of a provided-buffer
/// group), over the same storage as an [`InflightTable`].
pub struct ParkedTable<S> {
    slots: S,
    used: usize,
}

impl<S: AsMut<[Slot]> + AsRef<[Slot]>> ParkedTable<S> {
    /// A table over `slots` (all must be empty).
    pub fn new(slots: S) -> Self {
        assert!(
            slots.as_ref().iter().all(|s| s.pkt.is_none()),
            "parked storage must start empty"
        );
        ParkedTable { slots, used: 0 }
    }

    /// Positions in the table.
    pub fn capacity(&self) -> usize {
        self.slots.as_ref().len()
    }

    /// Packets parked.
    pub fn len(&self) -> usize {
        self.used
    }

    /// True when nothing is parked.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Parks `pkt` at `pos`, which must be empty (else the packet comes back).
    pub fn put(&mut self, pos: usize, pkt: Pkt) -> Result<(), Pkt> {
        match self.slots.as_mut().get_mut(pos) {
            Some(slot) if slot.pkt.is_none() => {
                slot.pkt = Some(pkt);
                self.used += 1;
                Ok(())
            }
            _ => Err(pkt),
        }
    }

    /// Takes the packet parked at `pos`.
    pub fn take(&mut self, pos: usize) -> Option<Pkt> {
        let pkt = self.slots.as_mut().get_mut(pos)?.pkt.take()?;
        self.used -= 1;
        Some(pkt)
    }

    /// The first empty position at or after `from`, if any.
    pub fn first_empty_from(&self, from: usize) -> Option<usize> {
        let slots = self.slots.as_ref();
        let tail = slots.get(from..)?;
        tail.iter().position(|s| s.pkt.is_none()).map(|i| from + i)
    }

    /// Takes every parked packet.
    pub fn drain(&mut self, mut f: impl FnMut(Pkt)) {
        for slot in self.slots.as_mut() {
            if let Some(p) = slot.pkt.take() {
                f(p);
            }
        }
        self.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PoolConfig;
    extern crate std;
    use std::vec::Vec;

    fn table(n: usize) -> InflightTable<Vec<Slot>> {
        InflightTable::new((0..n).map(|_| Slot::EMPTY).collect())
    }

    #[test]
    fn a_token_is_taken_once_and_stale_tokens_find_nothing() {
        let pool = crate::packet::test_pool(PoolConfig::standard(4));
        let mut t = table(2);
        let a = t.insert(pool.alloc().unwrap(), 60).unwrap();
        let b = t.insert(pool.alloc().unwrap(), 70).unwrap();
        assert!(t.is_full());
        let back = t.insert(pool.alloc().unwrap(), 1).unwrap_err();
        drop(back);
        assert_eq!(t.take(a).map(|(_, e)| e), Some(60));
        assert!(t.take(a).is_none(), "second completion for the same token");
        let c = t.insert(pool.alloc().unwrap(), 80).unwrap();
        assert_eq!(slot_of(c), slot_of(a), "slot reused");
        assert_ne!(c, a, "with a new generation");
        assert!(t.take(a).is_none());
        assert!(t.take(u64::MAX).is_none());
        let mut n = 0;
        t.drain(|_| n += 1);
        assert_eq!(n, 2);
        assert!(t.is_empty());
        let _ = b;
        assert_eq!(pool.stats().in_use, 0);
    }
}
