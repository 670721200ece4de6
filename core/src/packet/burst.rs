//! `Burst`: a fixed-capacity batch of packets, the unit of every Rx and Tx
//! call.
//!
//! `rx_burst` appends to a burst; `tx_burst` takes packets from its front
//! and leaves the rest in place, so the returned count is always a consumed
//! prefix and a packet is never both "sent" and "still yours".

use crate::packet::{FreeBatch, Pkt};

/// Storage behind a burst; use the [`Burst`] alias, and [`BurstSlice`] in
/// signatures that accept a burst of any capacity.
pub struct BurstOf<S: ?Sized> {
    len: usize,
    slots: S,
}

/// A burst of capacity `N` (default 32; any size works, 256 and beyond).
pub type Burst<const N: usize = 32> = BurstOf<[Option<Pkt>; N]>;

/// A burst of any capacity: what queue methods take. A `&mut Burst<N>`
/// coerces to `&mut BurstSlice` at a call site.
pub type BurstSlice = BurstOf<[Option<Pkt>]>;

impl<const N: usize> BurstOf<[Option<Pkt>; N]> {
    /// An empty burst.
    pub const fn new() -> Self {
        BurstOf {
            len: 0,
            slots: [const { None }; N],
        }
    }
}

impl<const N: usize> Default for BurstOf<[Option<Pkt>; N]> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::ops::Deref for BurstOf<[Option<Pkt>; N]> {
    type Target = BurstSlice;
    fn deref(&self) -> &BurstSlice {
        self
    }
}

impl<const N: usize> core::ops::DerefMut for BurstOf<[Option<Pkt>; N]> {
    fn deref_mut(&mut self) -> &mut BurstSlice {
        self
    }
}

impl BurstOf<[Option<Pkt>]> {
    /// Packets in the burst.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the burst holds no packet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many packets the burst can hold.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// How many more packets fit.
    pub fn spare(&self) -> usize {
        self.capacity() - self.len
    }

    /// True when no more packets fit.
    pub fn is_full(&self) -> bool {
        self.spare() == 0
    }

    /// Appends a packet, or hands it back when the burst is full.
    pub fn push(&mut self, pkt: Pkt) -> Result<(), Pkt> {
        match self.slots.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(pkt);
                self.len += 1;
                Ok(())
            }
            None => Err(pkt),
        }
    }

    /// Removes and returns the last packet.
    pub fn pop(&mut self) -> Option<Pkt> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        self.slots[self.len].take()
    }

    /// The packet at position `i`.
    pub fn get(&self, i: usize) -> Option<&Pkt> {
        self.slots[..self.len].get(i)?.as_ref()
    }

    /// The packet at position `i`, writable.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Pkt> {
        self.slots[..self.len].get_mut(i)?.as_mut()
    }

    /// The packets, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Pkt> {
        self.slots[..self.len].iter().flatten()
    }

    /// The packets, in order, writable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Pkt> {
        self.slots[..self.len].iter_mut().flatten()
    }

    /// Removes every packet, front first, handing each to `f`.
    pub fn drain_each(&mut self, mut f: impl FnMut(Pkt)) {
        for slot in &mut self.slots[..self.len] {
            if let Some(p) = slot.take() {
                f(p);
            }
        }
        self.len = 0;
    }

    /// Keeps the packets for which `keep` returns true, in order, and drops
    /// the others (their buffers go back to their pools together when
    /// `retain` returns, not while `keep` runs). `keep` may change the
    /// packets it keeps: a responder rewrites requests into replies and
    /// drops the rest in one pass.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut Pkt) -> bool) {
        let mut kept = 0;
        let mut dropped = FreeBatch::new();
        for i in 0..self.len {
            let Some(mut pkt) = self.slots[i].take() else {
                continue;
            };
            if keep(&mut pkt) {
                self.slots[kept] = Some(pkt);
                kept += 1;
            } else {
                dropped.add(pkt);
            }
        }
        self.len = kept;
    }

    /// The slots of the packets, for in-place rewriting inside the crate
    /// (a slot emptied here leaves a gap until [`close_gaps`](Self::close_gaps)).
    pub(crate) fn slots_mut(&mut self) -> &mut [Option<Pkt>] {
        &mut self.slots[..self.len]
    }

    /// Moves the packets together over the slots emptied through
    /// [`slots_mut`](Self::slots_mut), keeping their order.
    pub(crate) fn close_gaps(&mut self) {
        self.retain(|_| true);
    }

    /// Drops every packet (returning the buffers to their pools). The
    /// buffers go back together, one push onto the free list per run of
    /// packets from the same pool, which is cheaper than dropping the
    /// packets one by one.
    pub fn clear(&mut self) {
        let mut batch = FreeBatch::new();
        self.drain_each(|pkt| batch.add(pkt));
    }

    /// Offers packets from the front, one at a time, to `send`. `send`
    /// returns `Ok(())` when it took the packet, or `Err(pkt)` to hand it
    /// back and stop. The packets taken leave the burst, the rest move to
    /// the front; returns how many were taken. This is how a Tx queue
    /// consumes a prefix and nothing else.
    pub fn take_prefix(&mut self, mut send: impl FnMut(Pkt) -> Result<(), Pkt>) -> usize {
        let mut taken = 0;
        while taken < self.len {
            let Some(pkt) = self.slots[taken].take() else {
                break;
            };
            match send(pkt) {
                Ok(()) => taken += 1,
                Err(back) => {
                    self.slots[taken] = Some(back);
                    break;
                }
            }
        }
        if taken > 0 {
            self.slots[..self.len].rotate_left(taken);
            self.len -= taken;
        }
        taken
    }
}

impl<S: ?Sized> core::fmt::Debug for BurstOf<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Burst").field("len", &self.len).finish()
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::Burst;
    use crate::packet::{Pool, PoolConfig};

    #[test]
    fn retain_keeps_order_drops_the_rest_and_may_rewrite() {
        let pool = Pool::new(PoolConfig::standard(16)).unwrap();
        let mut burst: Burst<8> = Burst::new();
        for i in 0..6u8 {
            let mut p = pool.alloc().unwrap();
            p.extend_from_slice(&[i]).unwrap();
            burst.push(p).unwrap();
        }
        burst.retain(|p| {
            let keep = p.data()[0] % 2 == 0;
            if keep {
                p.data_mut()[0] += 100;
            }
            keep
        });
        let kept: std::vec::Vec<u8> = burst.iter().map(|p| p.data()[0]).collect();
        assert_eq!(kept, [100, 102, 104]);
        assert_eq!(pool.stats().in_use, 3, "dropped packets went back");
        burst.retain(|_| false);
        assert!(burst.is_empty());
        assert_eq!(pool.stats().in_use, 0);
    }
}
