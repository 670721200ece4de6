//! Per-queue statistics: the basic counters every queue keeps, drops by
//! reason, and named extended statistics.

use crate::wire::Framing;

/// Where a counted frame goes.
enum Dest {
    Unicast,
    Multicast,
    Broadcast,
}

/// Why a frame (Rx) or packet (Tx) did not make it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drops {
    /// Rx/Tx: shorter than the port's framing allows: an Ethernet header
    /// (14 bytes) on a TAP port, an IPv4 header (20) on a TUN port.
    pub runt: u64,
    /// Rx: larger than the buffer; the kernel cut it (on a TUN port with the
    /// packet-information prefix, the kernel's `TUN_PKT_STRIP` flag says so).
    pub truncated: u64,
    /// Rx: the virtio-net header made no sense.
    pub bad_vnet_hdr: u64,
    /// Rx: no buffer to replace the one received, so the frame was dropped
    /// and its buffer re-posted (also counted in `rx_nombuf`).
    pub nombuf: u64,
    /// Tx: larger than MTU + L2 header without a segmentation request.
    pub oversize: u64,
    /// Tx: offload request that cannot be expressed in a virtio-net header.
    pub bad_offload: u64,
    /// Tx: the kernel accepted fewer bytes than the frame had.
    pub short_write: u64,
    /// Tx: chain longer than the backend can gather.
    pub too_many_segs: u64,
    /// Tx: no headroom left to prepend the virtio-net header.
    pub no_headroom: u64,
    /// Rx/Tx: the kernel answered with an error (the last errno is in
    /// [`QueueStats::last_errno`]).
    pub io_error: u64,
    /// Tx: dropped at teardown before the kernel took it (cancelled).
    pub canceled: u64,
    /// Tx: on a TUN port (IP framing), a packet whose first byte's version
    /// nibble is neither 4 nor 6: the kernel would refuse it (or, with the
    /// packet-information prefix, take it as an unknown protocol), so it is
    /// never written.
    pub not_ip: u64,
}

impl Drops {
    /// All drops added up.
    pub fn total(&self) -> u64 {
        self.runt
            + self.truncated
            + self.bad_vnet_hdr
            + self.nombuf
            + self.oversize
            + self.bad_offload
            + self.short_write
            + self.too_many_segs
            + self.no_headroom
            + self.io_error
            + self.canceled
            + self.not_ip
    }
}

/// Frame-size bins of the extended statistics.
pub const SIZE_BINS: [&str; 7] = [
    "size_64",
    "size_65_127",
    "size_128_255",
    "size_256_511",
    "size_512_1023",
    "size_1024_1518",
    "size_1519_max",
];

/// Extended statistics: sizes, destinations and offloads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XStats {
    /// Frames per size bin (see [`SIZE_BINS`]); frames under 64 bytes count
    /// in the first bin.
    pub size_bins: [u64; 7],
    /// Frames to a unicast address.
    pub unicast: u64,
    /// Frames to a multicast address.
    pub multicast: u64,
    /// Frames to the broadcast address.
    pub broadcast: u64,
    /// Checksum left partial (Rx) or requested (Tx).
    pub csum_partial: u64,
    /// Checksum verified by the kernel (Rx).
    pub csum_valid: u64,
    /// Coalesced (Rx) or segmentation-requested (Tx) frames.
    pub gso: u64,
    /// Multishot reads re-armed (Rx).
    pub rearms: u64,
    /// Completions for a token with nothing in flight (ignored; should stay 0).
    pub spurious: u64,
    /// Completions that reported EAGAIN (Rx: nothing was there; the read is
    /// simply re-posted).
    pub again: u64,
}

/// Counters of one queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Frames delivered (Rx) or completed by the kernel (Tx).
    pub packets: u64,
    /// Bytes of those frames (without virtio-net headers).
    pub bytes: u64,
    /// Frames lost to errors (sum of the error-like drop reasons).
    pub errors: u64,
    /// Rx: times no buffer was available to re-post.
    pub rx_nombuf: u64,
    /// Drops by reason.
    pub drops: Drops,
    /// Last errno seen in a failed completion (0: none).
    pub last_errno: i32,
    /// Extended statistics.
    pub xstats: XStats,
}

impl QueueStats {
    /// Counts one good Ethernet frame of `len` bytes whose first bytes are
    /// `frame` (as [`QueueStats::count_framed`] with [`Framing::Ethernet`]).
    pub fn count_frame(&mut self, frame: &[u8], len: usize) {
        self.count_framed(Framing::Ethernet, frame, len);
    }

    /// Counts one good frame of `framing` and `len` bytes whose first bytes
    /// are `frame`: its size bin, and whether it goes to a unicast,
    /// multicast or broadcast address (the destination MAC of an Ethernet
    /// frame; the destination IP address of an IP packet: IPv4 224/4 or
    /// IPv6 ff00::/8 is multicast, 255.255.255.255 broadcast).
    pub fn count_framed(&mut self, framing: Framing, frame: &[u8], len: usize) {
        self.packets += 1;
        self.bytes += len as u64;
        let bin = match len {
            0..=64 => 0,
            65..=127 => 1,
            128..=255 => 2,
            256..=511 => 3,
            512..=1023 => 4,
            1024..=1518 => 5,
            _ => 6,
        };
        self.xstats.size_bins[bin] += 1;
        let class = match framing {
            Framing::Ethernet => match frame.first() {
                Some(_) if frame.len() >= 6 && frame[..6] == [0xff; 6] => Dest::Broadcast,
                Some(b) if b & 1 == 1 => Dest::Multicast,
                _ => Dest::Unicast,
            },
            // The destination address: IPv4 bytes 16..20, IPv6 24..40.
            Framing::Ip => match frame.first().map(|b| b >> 4) {
                Some(4) => match frame.get(16..20) {
                    Some(&[0xff, 0xff, 0xff, 0xff]) => Dest::Broadcast,
                    Some(&[a, ..]) if a & 0xf0 == 0xe0 => Dest::Multicast,
                    _ => Dest::Unicast,
                },
                Some(6) if frame.get(24) == Some(&0xff) => Dest::Multicast,
                _ => Dest::Unicast,
            },
        };
        match class {
            Dest::Unicast => self.xstats.unicast += 1,
            Dest::Multicast => self.xstats.multicast += 1,
            Dest::Broadcast => self.xstats.broadcast += 1,
        }
    }

    /// Counts the offload facts of one packet (checksum state, GSO).
    pub fn count_offload(&mut self, off: &crate::packet::Offload) {
        use crate::packet::Checksum;
        match off.csum {
            Checksum::Partial { .. } => self.xstats.csum_partial += 1,
            Checksum::Valid => self.xstats.csum_valid += 1,
            Checksum::None => {}
        }
        if off.gso.is_some() {
            self.xstats.gso += 1;
        }
    }

    /// Every counter with its name, for display or export.
    pub fn named(&self) -> [(&'static str, u64); 32] {
        let d = &self.drops;
        let x = &self.xstats;
        [
            ("packets", self.packets),
            ("bytes", self.bytes),
            ("errors", self.errors),
            ("rx_nombuf", self.rx_nombuf),
            ("drop_runt", d.runt),
            ("drop_truncated", d.truncated),
            ("drop_bad_vnet_hdr", d.bad_vnet_hdr),
            ("drop_nombuf", d.nombuf),
            ("drop_oversize", d.oversize),
            ("drop_bad_offload", d.bad_offload),
            ("drop_short_write", d.short_write),
            ("drop_too_many_segs", d.too_many_segs),
            ("drop_io_error", d.io_error),
            ("drop_canceled", d.canceled),
            (SIZE_BINS[0], x.size_bins[0]),
            (SIZE_BINS[1], x.size_bins[1]),
            (SIZE_BINS[2], x.size_bins[2]),
            (SIZE_BINS[3], x.size_bins[3]),
            (SIZE_BINS[4], x.size_bins[4]),
            (SIZE_BINS[5], x.size_bins[5]),
            (SIZE_BINS[6], x.size_bins[6]),
            ("unicast", x.unicast),
            ("multicast", x.multicast),
            ("broadcast", x.broadcast),
            ("csum_partial", x.csum_partial),
            ("csum_valid", x.csum_valid),
            ("gso", x.gso),
            ("rearms", x.rearms),
            ("spurious", x.spurious),
            ("again", x.again),
            ("drop_no_headroom", d.no_headroom),
            ("drop_not_ip", d.not_ip),
        ]
    }
}

impl core::ops::AddAssign<&QueueStats> for QueueStats {
    /// Adds another queue's counters (for port totals).
    fn add_assign(&mut self, b: &QueueStats) {
        let a = self;
        a.packets += b.packets;
        a.bytes += b.bytes;
        a.errors += b.errors;
        a.rx_nombuf += b.rx_nombuf;
        let (da, db) = (&mut a.drops, &b.drops);
        da.runt += db.runt;
        da.truncated += db.truncated;
        da.bad_vnet_hdr += db.bad_vnet_hdr;
        da.nombuf += db.nombuf;
        da.oversize += db.oversize;
        da.bad_offload += db.bad_offload;
        da.short_write += db.short_write;
        da.too_many_segs += db.too_many_segs;
        da.no_headroom += db.no_headroom;
        da.io_error += db.io_error;
        da.canceled += db.canceled;
        da.not_ip += db.not_ip;
        for (x, y) in a.xstats.size_bins.iter_mut().zip(b.xstats.size_bins) {
            *x += y;
        }
        let (xa, xb) = (&mut a.xstats, &b.xstats);
        xa.unicast += xb.unicast;
        xa.multicast += xb.multicast;
        xa.broadcast += xb.broadcast;
        xa.csum_partial += xb.csum_partial;
        xa.csum_valid += xb.csum_valid;
        xa.gso += xb.gso;
        xa.rearms += xb.rearms;
        xa.spurious += xb.spurious;
        xa.again += xb.again;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_land_in_their_size_bin_and_class() {
        let mut s = QueueStats::default();
        s.count_frame(&[0xff; 14], 60);
        s.count_frame(&[0x01, 0, 0x5e, 0, 0, 1], 128);
        s.count_frame(&[0x02, 0, 0, 0, 0, 1], 1518);
        s.count_frame(&[0x02, 0, 0, 0, 0, 1], 9000);
        assert_eq!(s.xstats.size_bins, [1, 0, 1, 0, 0, 1, 1]);
        assert_eq!(
            (s.xstats.broadcast, s.xstats.multicast, s.xstats.unicast),
            (1, 1, 2)
        );
        assert_eq!((s.packets, s.bytes), (4, 60 + 128 + 1518 + 9000));
    }

    #[test]
    fn ip_packets_are_classed_by_destination_address() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        let mut s = QueueStats::default();
        // 0x45 as a MAC's first byte would be multicast: not for IP.
        v4[16..20].copy_from_slice(&[198, 18, 0, 1]);
        s.count_framed(Framing::Ip, &v4, 20);
        v4[16..20].copy_from_slice(&[224, 0, 0, 251]);
        s.count_framed(Framing::Ip, &v4, 20);
        v4[16..20].copy_from_slice(&[255; 4]);
        s.count_framed(Framing::Ip, &v4, 20);
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[24] = 0xff;
        s.count_framed(Framing::Ip, &v6, 40);
        // Too short to hold a destination: unicast, no panic.
        s.count_framed(Framing::Ip, &[0x45], 1);
        assert_eq!(
            (s.xstats.unicast, s.xstats.multicast, s.xstats.broadcast),
            (2, 2, 1)
        );
    }

    #[test]
    fn every_drop_reason_is_summed_named_and_added() {
        let drops = Drops {
            runt: 1,
            truncated: 2,
            bad_vnet_hdr: 3,
            nombuf: 4,
            oversize: 5,
            bad_offload: 6,
            short_write: 7,
            too_many_segs: 8,
            no_headroom: 9,
            io_error: 10,
            canceled: 11,
            not_ip: 12,
        };
        let s = QueueStats {
            drops,
            ..QueueStats::default()
        };
        assert_eq!(s.drops.total(), (1..=12).sum::<u64>());
        let named: u64 = s
            .named()
            .iter()
            .filter(|(n, _)| n.starts_with("drop_"))
            .map(|&(_, v)| v)
            .sum();
        assert_eq!(named, s.drops.total(), "every drop reason is named");
        let mut sum = QueueStats::default();
        sum += &s;
        sum += &s;
        assert_eq!(sum.drops.total(), 2 * s.drops.total());
        assert_eq!(sum.drops.not_ip, 24);
    }
}
