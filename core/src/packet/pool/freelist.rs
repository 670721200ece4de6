//! The pool's shared free list: a lock-free LIFO stack of buffer indices.
//!
//! The head word packs a 32-bit tag with the index of the top buffer; every
//! successful push or pop bumps the tag, so a compare-and-swap can only
//! succeed if nothing at all changed since the head was read. That rules out
//! the ABA problem, and it also means a chain walked from an unchanged head
//! (bulk pop) was walked consistently: a buffer's link is only rewritten after
//! the buffer has left the list, which changes the head.
//!
//! Links live in a separate array of atomics so that a stale read of a link
//! (a buffer popped by another thread meanwhile) is merely a wrong value that
//! the failing compare-and-swap throws away, never a data race.

use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// Index value that means "no buffer" (end of a chain).
pub(crate) const NIL: u32 = u32::MAX;

fn pack(tag: u32, idx: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(idx)
}

fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

/// A view of the free list: its head word and the link of every buffer.
pub(crate) struct FreeList<'a> {
    head: &'a AtomicU64,
    links: &'a [AtomicU32],
}

impl<'a> FreeList<'a> {
    /// A view over storage initialised by [`FreeList::init`].
    pub(crate) fn new(head: &'a AtomicU64, links: &'a [AtomicU32]) -> Self {
        FreeList { head, links }
    }

    /// Puts every buffer on the list, index 0 on top. Only valid while no
    /// other thread can see the list.
    pub(crate) fn init(&self) {
        let n = self.links.len();
        for (i, link) in self.links.iter().enumerate() {
            let next = if i + 1 < n { (i + 1) as u32 } else { NIL };
            link.store(next, Ordering::Relaxed);
        }
        let top = if n == 0 { NIL } else { 0 };
        self.head.store(pack(0, top), Ordering::Release);
    }

    /// Pops one buffer index, or `None` when the list is empty.
    pub(crate) fn pop(&self) -> Option<u32> {
        let mut one = [NIL];
        (self.pop_bulk(&mut one) == 1).then_some(one[0])
    }

    /// Pops up to `out.len()` indices in one compare-and-swap; returns how
    /// many were written to the front of `out`.
    pub(crate) fn pop_bulk(&self, out: &mut [u32]) -> usize {
        if out.is_empty() {
            return 0;
        }
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let (tag, top) = unpack(head);
            let mut n = 0;
            let mut cur = top;
            while n < out.len() && cur != NIL {
                let Some(link) = self.links.get(cur as usize) else {
                    // Only a torn walk (the list changed under us) can reach
                    // here; the CAS below would fail, so start over.
                    break;
                };
                out[n] = cur;
                n += 1;
                cur = link.load(Ordering::Relaxed);
            }
            if n == 0 && top == NIL {
                return 0;
            }
            match self.head.compare_exchange_weak(
                head,
                pack(tag.wrapping_add(1), cur),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) if n > 0 => return n,
                Ok(_) => return 0,
                Err(now) => head = now,
            }
        }
    }

    /// Pushes the indices in `idxs` (in that order, so `idxs[0]` ends on top)
    /// in one compare-and-swap. The caller owns every index and none is on
    /// the list.
    pub(crate) fn push_bulk(&self, idxs: &[u32]) {
        let (Some(&first), Some(&last)) = (idxs.first(), idxs.last()) else {
            return;
        };
        for pair in idxs.windows(2) {
            self.links[pair[0] as usize].store(pair[1], Ordering::Relaxed);
        }
        self.push_linked(first, last);
    }

    /// Pushes a chain `first -> ... -> last` whose links the caller has
    /// already set with [`FreeList::link`].
    pub(crate) fn push_linked(&self, first: u32, last: u32) {
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let (tag, top) = unpack(head);
            self.links[last as usize].store(top, Ordering::Relaxed);
            // Release: the links written above, and the previous owner's writes
            // to the buffers, happen-before the pop that acquires this head.
            match self.head.compare_exchange_weak(
                head,
                pack(tag.wrapping_add(1), first),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Sets the link of an owned (not listed) buffer, to build a chain for
    /// [`FreeList::push_linked`].
    pub(crate) fn link(&self, idx: u32, next: u32) {
        self.links[idx as usize].store(next, Ordering::Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    fn storage(n: usize) -> (AtomicU64, Vec<AtomicU32>) {
        (
            AtomicU64::new(0),
            (0..n).map(|_| AtomicU32::new(0)).collect(),
        )
    }

    #[test]
    fn pops_every_index_once_then_empty() {
        let (head, links) = storage(8);
        let fl = FreeList::new(&head, &links);
        fl.init();
        let mut seen: Vec<u32> = (0..8).map(|_| fl.pop().unwrap()).collect();
        assert_eq!(fl.pop(), None);
        seen.sort();
        assert_eq!(seen, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn bulk_push_then_bulk_pop_keeps_order() {
        let (head, links) = storage(6);
        let fl = FreeList::new(&head, &links);
        fl.init();
        let mut all = [0u32; 6];
        assert_eq!(fl.pop_bulk(&mut all), 6);
        fl.push_bulk(&[5, 3, 1]);
        let mut out = [NIL; 4];
        assert_eq!(fl.pop_bulk(&mut out), 3);
        assert_eq!(&out[..3], &[5, 3, 1]);
        assert_eq!(fl.pop_bulk(&mut out), 0);
    }

    #[test]
    fn concurrent_alloc_free_never_duplicates() {
        const N: usize = 64;
        let (head, links) = storage(N);
        let fl = FreeList::new(&head, &links);
        fl.init();
        let owned: Vec<std::sync::atomic::AtomicBool> = (0..N)
            .map(|_| std::sync::atomic::AtomicBool::new(false))
            .collect();
        std::thread::scope(|s| {
            for t in 0..4 {
                let fl = &fl;
                let owned = &owned;
                s.spawn(move || {
                    let mut mine = [NIL; 8];
                    for round in 0..20_000 {
                        let want = 1 + (round + t) % 8;
                        let got = fl.pop_bulk(&mut mine[..want]);
                        for &i in &mine[..got] {
                            let was = owned[i as usize].swap(true, Ordering::AcqRel);
                            assert!(!was, "buffer {i} handed out twice");
                        }
                        for &i in &mine[..got] {
                            owned[i as usize].store(false, Ordering::Release);
                        }
                        fl.push_bulk(&mine[..got]);
                    }
                });
            }
        });
        let mut all = [NIL; N + 1];
        assert_eq!(fl.pop_bulk(&mut all), N);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    extern crate std;
    use loom::sync::Arc;
    use std::vec::Vec;

    struct Storage {
        head: AtomicU64,
        links: Vec<AtomicU32>,
    }

    fn storage(n: usize) -> Arc<Storage> {
        let s = Storage {
            head: AtomicU64::new(0),
            links: (0..n).map(|_| AtomicU32::new(0)).collect(),
        };
        FreeList::new(&s.head, &s.links).init();
        Arc::new(s)
    }

    /// Two threads pop and push concurrently; no index is ever held by both,
    /// and all indices are back at the end.
    #[test]
    fn loom_pop_push_is_exclusive_and_conserving() {
        loom::model(|| {
            let s = storage(3);
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let s = s.clone();
                    loom::thread::spawn(move || {
                        let fl = FreeList::new(&s.head, &s.links);
                        let a = fl.pop();
                        let b = fl.pop();
                        if let (Some(a), Some(b)) = (a, b) {
                            assert_ne!(a, b);
                        }
                        let got: Vec<u32> = [a, b].into_iter().flatten().collect();
                        fl.push_bulk(&got);
                        got
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            let fl = FreeList::new(&s.head, &s.links);
            let mut all = [NIL; 4];
            let n = fl.pop_bulk(&mut all);
            assert_eq!(n, 3);
            let mut v: Vec<u32> = all[..n].to_vec();
            v.sort();
            assert_eq!(v, [0, 1, 2]);
        });
    }

    /// A bulk pop racing with a push of a chain never yields a duplicate.
    #[test]
    fn loom_bulk_pop_races_push() {
        loom::model(|| {
            let s = storage(4);
            // Take two out first so the pusher has something to return.
            let taken = {
                let fl = FreeList::new(&s.head, &s.links);
                let mut t = [NIL; 2];
                assert_eq!(fl.pop_bulk(&mut t), 2);
                t
            };
            let s2 = s.clone();
            let pusher = loom::thread::spawn(move || {
                FreeList::new(&s2.head, &s2.links).push_bulk(&taken);
            });
            let fl = FreeList::new(&s.head, &s.links);
            let mut out = [NIL; 3];
            let n = fl.pop_bulk(&mut out);
            pusher.join().unwrap();
            let mut rest = [NIL; 4];
            let m = fl.pop_bulk(&mut rest);
            let mut all: Vec<u32> = out[..n].iter().chain(&rest[..m]).copied().collect();
            all.sort();
            assert_eq!(all, [0, 1, 2, 3]);
        });
    }
}
