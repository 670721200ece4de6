//! The real-TAP conformance suite of tapring's data paths, written once,
//! generic over a [`SuiteBackend`], so every backend (the read/write port
//! of `tapring-rw`, the io_uring port of `tapring-uring`, ...) runs the
//! very same cases against the kernel, each from its own `tests/`.
//!
//! A backend plugs in with a unit type implementing [`SuiteBackend`] and
//! one line in an integration test file, which expands to one `#[test]`
//! per case:
//!
//! ```ignore
//! // backend-uring/tests/suite.rs
//! struct Uring;
//! impl tapring_testkit::suite::SuiteBackend for Uring {
//!     const NAME: &'static str = "uring";
//!     const RX_CHAINS: bool = false;
//!     type Port = tapring_uring::UringPort;
//!     fn open(
//!         cfg: &tapring_device::TapConfig,
//!         pool: &tapring_core::Pool,
//!         opts: &tapring_testkit::suite::SuiteOptions,
//!     ) -> Result<Self::Port, Box<dyn std::error::Error>> {
//!         Ok(tapring_uring::UringPort::open(cfg, pool, /* ... */)?)
//!     }
//! }
//! tapring_testkit::tap_suite!(Uring);
//! ```
//!
//! Every case: skips unless [`require_tap`] says real TAP devices are
//! available; runs alone (a process-wide lock, so fd counts are exact);
//! names its interface with [`unique_name`](crate::unique_name) and holds guards that delete
//! interfaces and namespaces even on panic; keeps IPv6 off the interface so
//! the kernel sends nothing of its own; and ends by dropping queues and
//! port and asserting that every pool buffer is back and no fd leaked.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tapring_core::{
    Burst, Checksum, Gso, GsoKind, Offload, Pkt, Pool, PoolConfig, Port, PortInfo, QueueStats,
    RxQueue, TxQueue,
};

use crate::packet::{
    ETH_P_ALL, ETH_P_IP, PacketSocket, Reply, TEST_ETHERTYPE, inet_checksum, respond, respond_ip,
    test_frame, test_frame_seq, test_packet, test_packet_seq, udp_frame, udp_frame_seq, udp_packet,
    udp_packet_seq,
};
use crate::{InterfaceGuard, NetnsGuard, disable_ipv6, quiet_ip, require_tap};
use tapring_core::Framing;
use tapring_device::{DeviceMode, Offloads, TapConfig, VnetHdrLen};

/// Options a case asks of the backend's port, beyond the [`TapConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuiteOptions {
    /// Buffers one received frame may span (1: no chains). Only cases of
    /// backends with [`SuiteBackend::RX_CHAINS`] ask for more than 1.
    pub rx_segments: u16,
}

impl Default for SuiteOptions {
    fn default() -> Self {
        SuiteOptions { rx_segments: 1 }
    }
}

/// Which kind of device a case opens, and the test frames that go with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// A TAP device: Ethernet frames ([`test_frame`], [`udp_frame`]).
    Tap,
    /// A TUN device: IP packets with no link-layer header ([`test_packet`],
    /// [`udp_packet`]), with the kernel's packet-information prefix when
    /// `packet_info` (which the port must hide).
    Tun {
        /// Open without `IFF_NO_PI`.
        packet_info: bool,
    },
}

impl Link {
    /// TUN without packet information.
    pub const TUN: Link = Link::Tun { packet_info: false };
    /// TUN with packet information.
    pub const TUN_PI: Link = Link::Tun { packet_info: true };

    /// `cfg` set to open this kind of device.
    pub fn apply(self, cfg: TapConfig) -> TapConfig {
        match self {
            Link::Tap => cfg.mode(DeviceMode::Tap),
            Link::Tun { packet_info } => cfg.mode(DeviceMode::Tun).packet_info(packet_info),
        }
    }

    /// What the port's frames start with.
    pub fn framing(self) -> Framing {
        match self {
            Link::Tap => Framing::Ethernet,
            Link::Tun { .. } => Framing::Ip,
        }
    }

    /// A test frame (TAP) or packet (TUN) carrying `seq`, of `len` bytes.
    pub fn frame(self, seq: u32, len: usize) -> Vec<u8> {
        match self {
            Link::Tap => test_frame(seq, len),
            Link::Tun { .. } => test_packet(seq, len),
        }
    }

    /// The sequence number of a [`Link::frame`], or `None`.
    pub fn seq(self, frame: &[u8]) -> Option<u32> {
        match self {
            Link::Tap => test_frame_seq(frame),
            Link::Tun { .. } => test_packet_seq(frame),
        }
    }

    /// A UDP/IPv4 frame or packet of flow `flow` carrying `seq`.
    pub fn udp(self, len: usize, flow: u16, seq: u32) -> Vec<u8> {
        match self {
            Link::Tap => udp_frame(len, flow, seq),
            Link::Tun { .. } => udp_packet(len, flow, seq),
        }
    }

    /// The sequence number of a [`Link::udp`] frame, or `None`.
    pub fn udp_seq(self, frame: &[u8]) -> Option<u32> {
        match self {
            Link::Tap => udp_frame_seq(frame),
            Link::Tun { .. } => udp_packet_seq(frame),
        }
    }

    /// The protocol an injecting packet socket is bound to for
    /// [`Link::frame`]s (a TUN's packets go out as IPv4).
    pub fn ethertype(self) -> u16 {
        match self {
            Link::Tap => TEST_ETHERTYPE,
            Link::Tun { .. } => ETH_P_IP,
        }
    }

    /// The sizes size-sweeping cases use, from the smallest test frame to
    /// the largest at MTU 1500.
    pub fn sizes(self) -> [usize; 5] {
        match self {
            Link::Tap => SIZES,
            Link::Tun { .. } => [28, 61, 128, 1000, 1500],
        }
    }
}

/// A data-path backend under test.
pub trait SuiteBackend {
    /// Name in messages.
    const NAME: &'static str;
    /// Whether the port can receive a frame larger than one buffer into a
    /// chain ([`SuiteOptions::rx_segments`] > 1). If not, that case passes
    /// without running.
    const RX_CHAINS: bool;
    /// The port type.
    type Port: Port;
    /// Opens a port on a new TAP device described by `cfg` (a fresh name,
    /// not a template), with buffers from `pool`. The port stamps port id 0
    /// on received packets.
    fn open(
        cfg: &TapConfig,
        pool: &Pool,
        opts: &SuiteOptions,
    ) -> Result<Self::Port, Box<dyn std::error::Error>>;
}

/// Expands to one `#[test]` per suite case for backend `$backend` (a type
/// implementing [`SuiteBackend`]). Use it at the top level of an
/// integration test file.
#[macro_export]
macro_rules! tap_suite {
    ($backend:ty) => {
        $crate::tap_suite!(
            $backend;
            rx_frames_arrive_in_order,
            rx_oversize_frame_is_truncated_and_counted,
            rx_chain_when_frame_exceeds_buffer,
            rx_pool_exhausted_counts_nombuf,
            tx_frames_are_captured_in_order,
            tx_chain_of_three_segments_is_one_frame,
            tx_oversize_is_rejected_and_freed,
            tx_runt_is_counted,
            tx_link_down_is_consumed_as_io_error,
            device_deleted_under_load_is_reported,
            vnet_hdr_12_round_trip,
            multi_queue_1,
            multi_queue_2,
            multi_queue_4,
            imissed_counts_kernel_ring_drops,
            take_queue_twice_is_an_error,
            kernel_peer_ping,
            gso_frames_up_to_64k_cross_a_bridge,
            kernel_finishes_what_the_headers_helper_asked,
            kernel_segments_what_gro_coalesced,
            tun_rx_packets_arrive_in_order,
            tun_pi_rx_packets_arrive_in_order,
            tun_rx_oversize_packet_is_truncated_and_counted,
            tun_pi_rx_oversize_packet_is_truncated_and_counted,
            tun_rx_chain_when_packet_exceeds_buffer,
            tun_pi_rx_chain_when_packet_exceeds_buffer,
            tun_pi_rx_pool_exhausted_counts_nombuf,
            tun_tx_packets_are_captured_in_order,
            tun_pi_tx_packets_are_captured_in_order,
            tun_pi_tx_chain_of_three_segments_is_one_packet,
            tun_tx_oversize_is_rejected_and_freed,
            tun_pi_tx_oversize_is_rejected_and_freed,
            tun_tx_runt_and_not_ip_are_counted,
            tun_pi_tx_runt_and_not_ip_are_counted,
            tun_tx_link_down_is_consumed_as_io_error,
            tun_device_deleted_under_load_is_reported,
            tun_vnet_hdr_12_round_trip,
            tun_pi_vnet_hdr_12_round_trip,
            tun_multi_queue_2,
            tun_multi_queue_4,
            tun_pi_multi_queue_2,
            tun_imissed_counts_kernel_ring_drops,
            tun_kernel_peer_ping,
            tun_pi_kernel_peer_ping,
            tun_gso_packets_up_to_64k_are_routed_whole,
            tun_pi_gso_packets_up_to_64k_are_routed_whole,
            tun_kernel_finishes_what_the_headers_helper_asked,
            tun_pi_kernel_finishes_what_the_headers_helper_asked,
        );
    };
    ($backend:ty; $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::suite::$case::<$backend>();
            }
        )+
    };
}

/// How long a case waits for frames that should arrive at once.
const PATIENCE: Duration = Duration::from_secs(3);

/// Serialises the cases of one process, so fd counts mean something.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One case's world: a pool, a port on a fresh interface, the guards, and
/// what to check at the end.
struct Fixture<B: SuiteBackend> {
    port: Option<B::Port>,
    pool: Pool,
    name: String,
    info: PortInfo,
    fds_before: BTreeSet<i32>,
    _guard: InterfaceGuard,
    _lock: MutexGuard<'static, ()>,
}

impl<B: SuiteBackend> Fixture<B> {
    /// [`Fixture::new`] on a device of kind `link`.
    fn on(
        link: Link,
        queues: usize,
        vnet: VnetHdrLen,
        pool_cfg: PoolConfig,
        opts: SuiteOptions,
    ) -> Self {
        Self::on_with(link, queues, vnet, pool_cfg, opts, true)
    }
    /// A port with `queues` queues and virtio-net header `vnet` on a fresh
    /// interface (IPv6 off, up unless `up` is false), buffers from a pool
    /// shaped `pool_cfg`.
    fn new(queues: usize, vnet: VnetHdrLen, pool_cfg: PoolConfig, opts: SuiteOptions) -> Self {
        Self::with(queues, vnet, pool_cfg, opts, true)
    }

    fn with(
        queues: usize,
        vnet: VnetHdrLen,
        pool_cfg: PoolConfig,
        opts: SuiteOptions,
        up: bool,
    ) -> Self {
        Self::on_with(Link::Tap, queues, vnet, pool_cfg, opts, up)
    }

    /// [`Fixture::with`] on a device of kind `link`.
    fn on_with(
        link: Link,
        queues: usize,
        vnet: VnetHdrLen,
        pool_cfg: PoolConfig,
        opts: SuiteOptions,
        up: bool,
    ) -> Self {
        let lock = serial();
        let fds_before = open_fds();
        let name = super::unique_name("trs");
        let guard = InterfaceGuard::new(&name);
        let pool = Pool::new(pool_cfg).expect("test pool");
        let cfg = link
            .apply(TapConfig::named(&name))
            .queues(queues)
            .multi_queue(queues > 1)
            .vnet_hdr(vnet)
            .up(false);
        let port =
            B::open(&cfg, &pool, &opts).unwrap_or_else(|e| panic!("{}: open {name}: {e}", B::NAME));
        assert!(disable_ipv6(&name), "disable IPv6 on {name}");
        if up {
            assert!(
                quiet_ip(&["link", "set", "dev", &name, "up"]),
                "ip link set up"
            );
        }
        let info = port.info();
        assert_eq!(
            info.framing,
            link.framing(),
            "{}: PortInfo::framing",
            B::NAME
        );
        Fixture {
            port: Some(port),
            pool,
            name,
            info,
            fds_before,
            _guard: guard,
            _lock: lock,
        }
    }

    fn port(&mut self) -> &mut B::Port {
        self.port.as_mut().expect("port open")
    }

    fn rx(&mut self, q: u16) -> <B::Port as Port>::Rx {
        self.port()
            .take_rx(q)
            .unwrap_or_else(|e| panic!("take_rx({q}): {e}"))
    }

    fn tx(&mut self, q: u16) -> <B::Port as Port>::Tx {
        self.port()
            .take_tx(q)
            .unwrap_or_else(|e| panic!("take_tx({q}): {e}"))
    }

    /// A socket that injects frames of `ethertype` into the interface.
    fn injector(&self, ethertype: u16) -> PacketSocket {
        PacketSocket::bind(self.info.ifindex, ethertype).expect("AF_PACKET socket")
    }

    /// Drops the port (queues must be dropped by the caller first) and
    /// checks that every buffer is back and no fd leaked.
    fn finish(mut self) {
        drop(self.port.take());
        assert_eq!(
            self.pool.stats().in_use,
            0,
            "{}: every buffer back in the pool",
            B::NAME
        );
        assert_fds_closed(&self.fds_before, B::NAME);
    }
}

/// Asserts that every fd opened since `before` is closed again, after a
/// moment: a non-persistent device goes away with its last fd (io_uring
/// may take a moment). Compared as sets: fds other threads open for a
/// moment (the test harness, other cases' skip checks) must not count.
fn assert_fds_closed(before: &BTreeSet<i32>, who: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut new = new_fds(before);
    while !new.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        new = new_fds(before);
    }
    assert!(new.is_empty(), "{who}: fds leaked: {new:?}");
}

/// Two ports on fresh interfaces, enslaved to a fresh Linux bridge, all up
/// with IPv6 off; everything deleted on drop (also on panic).
struct BridgedPair<B: SuiteBackend> {
    a: Option<B::Port>,
    b: Option<B::Port>,
    pool: Pool,
    fds_before: BTreeSet<i32>,
    // Declared last: dropped after the ports, so the devices go first.
    _guards: [InterfaceGuard; 3],
    _lock: MutexGuard<'static, ()>,
}

impl<B: SuiteBackend> BridgedPair<B> {
    /// Opens port A with `cfg_a` and port B with `cfg_b` (each applied to a
    /// fresh name), buffers from a pool shaped `pool_cfg`, and bridges them.
    fn new(
        prefix: &str,
        pool_cfg: PoolConfig,
        cfg_a: impl Fn(TapConfig) -> TapConfig,
        cfg_b: impl Fn(TapConfig) -> TapConfig,
    ) -> Self {
        let lock = serial();
        let fds_before = open_fds();
        let [a, b, br] = ["a", "b", "x"].map(|s| super::unique_name(&format!("{prefix}{s}")));
        let guards = [
            InterfaceGuard::new(&br),
            InterfaceGuard::new(&a),
            InterfaceGuard::new(&b),
        ];
        let pool = Pool::new(pool_cfg).expect("test pool");
        let opts = SuiteOptions::default();
        let base = |name: &str| TapConfig::named(name).up(false);
        let pa = B::open(&cfg_a(base(&a)), &pool, &opts)
            .unwrap_or_else(|e| panic!("{}: open {a}: {e}", B::NAME));
        let pb = B::open(&cfg_b(base(&b)), &pool, &opts)
            .unwrap_or_else(|e| panic!("{}: open {b}: {e}", B::NAME));
        assert!(quiet_ip(&["link", "add", &br, "type", "bridge"]));
        for dev in [&br, &a, &b] {
            assert!(disable_ipv6(dev), "disable IPv6 on {dev}");
        }
        for dev in [&a, &b] {
            assert!(quiet_ip(&["link", "set", "dev", dev, "master", &br]));
        }
        for dev in [&br, &a, &b] {
            assert!(quiet_ip(&["link", "set", "dev", dev, "up"]));
        }
        BridgedPair {
            a: Some(pa),
            b: Some(pb),
            pool,
            fds_before,
            _guards: guards,
            _lock: lock,
        }
    }

    /// Tx queue 0 of port A and Rx queue 0 of port B.
    fn a_to_b(&mut self) -> (<B::Port as Port>::Tx, <B::Port as Port>::Rx) {
        let tx = self.a.as_mut().expect("open").take_tx(0).expect("take_tx");
        let rx = self.b.as_mut().expect("open").take_rx(0).expect("take_rx");
        (tx, rx)
    }

    /// Closes both ports (queues must be dropped first) and checks that
    /// every buffer is back and no fd leaked.
    fn finish(mut self) {
        drop((self.a.take(), self.b.take()));
        assert_eq!(
            self.pool.stats().in_use,
            0,
            "{}: every buffer back",
            B::NAME
        );
        assert_fds_closed(&self.fds_before, B::NAME);
    }
}

/// The fd numbers open in this process.
fn open_fds() -> BTreeSet<i32> {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Fds open now that were not in `before` (the directory listing's own fd
/// excluded: it is closed again).
fn new_fds(before: &BTreeSet<i32>) -> Vec<i32> {
    open_fds()
        .into_iter()
        .filter(|fd| !before.contains(fd))
        .filter(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok())
        .collect()
}

/// A packet from `pool` holding `bytes`.
fn pkt_of(pool: &Pool, bytes: &[u8]) -> Pkt {
    let mut p = pool.alloc().expect("pool has room");
    p.extend_from_slice(bytes).expect("frame fits a buffer");
    p
}

/// The whole chain's bytes.
fn bytes_of(pkt: &Pkt) -> Vec<u8> {
    let mut v = Vec::with_capacity(pkt.pkt_len());
    for seg in pkt.segments() {
        v.extend_from_slice(seg);
    }
    v
}

/// What [`receive`] got.
struct Received {
    /// Frames accepted by the filter, in arrival order.
    kept: Vec<Pkt>,
    /// Every frame delivered (kept or not).
    frames: u64,
    /// Their bytes.
    bytes: u64,
}

/// Receives on `rx` until `want` frames accepted by `keep` arrived (others
/// are counted and dropped) or [`PATIENCE`] runs out.
fn receive<R: RxQueue>(rx: &mut R, want: usize, keep: impl Fn(&Pkt) -> bool) -> Received {
    let mut got = Vec::new();
    let (mut frames, mut bytes) = (0u64, 0u64);
    let deadline = Instant::now() + PATIENCE;
    let mut burst: Burst<32> = Burst::new();
    while got.len() < want && Instant::now() < deadline {
        let n = rx.rx_burst(&mut burst).expect("rx_burst");
        if n == 0 {
            rx.wait(Some(Duration::from_millis(20))).expect("wait");
            continue;
        }
        burst.drain_each(|p| {
            frames += 1;
            bytes += p.pkt_len() as u64;
            if keep(&p) {
                got.push(p);
            }
        });
    }
    Received {
        kept: got,
        frames,
        bytes,
    }
}

/// Sends every packet of `pkts` (retrying while the queue pushes back)
/// and checks the returned counts are consumed prefixes.
fn send_all<T: TxQueue>(tx: &mut T, pkts: Vec<Pkt>) {
    let mut burst: Burst<32> = Burst::new();
    let mut pending = pkts.into_iter();
    let deadline = Instant::now() + PATIENCE;
    loop {
        while !burst.is_full() {
            match pending.next() {
                Some(p) => burst.push(p).expect("room"),
                None => break,
            }
        }
        if burst.is_empty() {
            return;
        }
        let before = burst.len();
        let n = tx.tx_burst(&mut burst).expect("tx_burst");
        assert_eq!(
            burst.len(),
            before - n,
            "tx_burst returns the consumed prefix"
        );
        let _ = tx.reclaim();
        if n == 0 {
            assert!(Instant::now() < deadline, "tx queue never took the packets");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Waits until every in-flight transmission completed.
fn drain_tx<T: TxQueue>(tx: &mut T) {
    let deadline = Instant::now() + PATIENCE;
    while tx.in_flight() > 0 && Instant::now() < deadline {
        let _ = tx.reclaim();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(tx.in_flight(), 0, "every transmission completes");
}

/// Captures [`Link::frame`]s of `link` (frames of [`TEST_ETHERTYPE`] on a
/// TAP) on `sock` until `want` arrived or [`PATIENCE`] runs out.
fn capture_by(sock: &PacketSocket, link: Link, want: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 70_000];
    let deadline = Instant::now() + PATIENCE;
    while got.len() < want && Instant::now() < deadline {
        if let Some(n) = sock
            .recv(&mut buf, Duration::from_millis(50))
            .expect("recv")
            && link.seq(&buf[..n.min(buf.len())]).is_some()
        {
            got.push(buf[..n].to_vec());
        }
    }
    got
}

fn standard_pool() -> PoolConfig {
    PoolConfig::standard(512)
}

/// The sizes every size-sweeping case uses: 60..=MTU+14 (MTU 1500).
const SIZES: [usize; 5] = [60, 61, 128, 1000, 1514];

/// Checks that Rx counters count exactly the delivered frames.
fn assert_rx_counted(stats: &QueueStats, got: &Received) {
    assert_eq!(stats.packets, got.frames, "rx packets counted");
    assert_eq!(stats.bytes, got.bytes, "rx bytes counted");
    assert_eq!(stats.drops.total(), 0, "no drops: {stats:?}");
}

/// Frames injected with an AF_PACKET socket arrive through `rx_burst`
/// byte-identical, in order, stamped with their origin, and counted.
fn rx_in_order<B: SuiteBackend>(link: Link) {
    if !require_tap() {
        return;
    }
    let mut fx = Fixture::<B>::on(
        link,
        1,
        VnetHdrLen::None,
        standard_pool(),
        SuiteOptions::default(),
    );
    let mut rx = fx.rx(0);
    let inj = fx.injector(link.ethertype());
    let sent: Vec<Vec<u8>> = (0..60u32)
        .map(|i| link.frame(i, link.sizes()[i as usize % link.sizes().len()]))
        .collect();
    for f in &sent {
        inj.send(f).expect("inject");
    }
    let recv = receive(&mut rx, sent.len(), |p| link.seq(p.data()).is_some());
    let got = &recv.kept;
    let got_bytes: Vec<Vec<u8>> = got.iter().map(bytes_of).collect();
    assert_eq!(
        got_bytes.len(),
        sent.len(),
        "{}: every frame arrives",
        B::NAME
    );
    for (i, (g, s)) in got_bytes.iter().zip(&sent).enumerate() {
        assert!(g == s, "{}: frame {i} byte-identical, in order", B::NAME);
    }
    for p in got {
        assert_eq!((p.port(), p.queue()), (0, 0), "origin stamped");
        assert!(p.offload().is_none());
    }
    assert_rx_counted(&rx.stats(), &recv);
    drop(recv);
    drop(rx);
    drop(inj);
    fx.finish();
}

/// On a TAP.
pub fn rx_frames_arrive_in_order<B: SuiteBackend>() {
    rx_in_order::<B>(Link::Tap);
}

/// On a TUN: IP packets, byte-identical.
pub fn tun_rx_packets_arrive_in_order<B: SuiteBackend>() {
    rx_in_order::<B>(Link::TUN);
}

/// On a TUN with packet information: the prefix never shows.
pub fn tun_pi_rx_packets_arrive_in_order<B: SuiteBackend>() {
    rx_in_order::<B>(Link::TUN_PI);
}

/// A frame larger than the read buffer is cut by tun (which, on Linux
/// 6.18, returns the buffer's length: see `tapring_device`'s rx module):
/// counted in `drops.truncated`, never delivered; the next frame is fine.
fn rx_oversize_on<B: SuiteBackend>(link: Link) {
    if !require_tap() {
        return;
    }
    let pool = PoolConfig::standard(256).data_room(256).headroom(64);
    let mut fx = Fixture::<B>::on(link, 1, VnetHdrLen::None, pool, SuiteOptions::default());
    let mut rx = fx.rx(0);
    let inj = fx.injector(link.ethertype());
    inj.send(&link.frame(1, 1000)).expect("inject big");
    let small = link.frame(2, 100);
    inj.send(&small).expect("inject small");
    let got = receive(&mut rx, 1, |p| link.seq(p.data()).is_some()).kept;
    assert_eq!(got.len(), 1, "{}: only the small frame arrives", B::NAME);
    assert!(bytes_of(&got[0]) == small, "the small frame intact");
    let st = rx.stats();
    assert_eq!(
        st.drops.truncated,
        1,
        "{}: truncated counted: {st:?}",
        B::NAME
    );
    assert_eq!((st.packets, st.errors), (1, 1));
    drop(got);
    drop(rx);
    drop(inj);
    fx.finish();
}

/// On a TAP.
pub fn rx_oversize_frame_is_truncated_and_counted<B: SuiteBackend>() {
    rx_oversize_on::<B>(Link::Tap);
}

/// On a TUN.
pub fn tun_rx_oversize_packet_is_truncated_and_counted<B: SuiteBackend>() {
    rx_oversize_on::<B>(Link::TUN);
}

/// On a TUN with packet information (the kernel also flags TUN_PKT_STRIP).
pub fn tun_pi_rx_oversize_packet_is_truncated_and_counted<B: SuiteBackend>() {
    rx_oversize_on::<B>(Link::TUN_PI);
}

/// With `rx_segments` > 1, a frame larger than one buffer arrives as a
/// chain, byte-identical.
fn rx_chain_on<B: SuiteBackend>(link: Link) {
    if !require_tap() || !B::RX_CHAINS {
        return;
    }
    let pool = PoolConfig::standard(256).data_room(512).headroom(64);
    let mut fx = Fixture::<B>::on(
        link,
        1,
        VnetHdrLen::None,
        pool,
        SuiteOptions { rx_segments: 4 },
    );
    let mut rx = fx.rx(0);
    let inj = fx.injector(link.ethertype());
    let sent = [
        link.frame(1, link.sizes()[4]),
        link.frame(2, 60),
        link.frame(3, 1200),
    ];
    for f in &sent {
        inj.send(f).expect("inject");
    }
    let got = receive(&mut rx, 3, |p| link.seq(p.data()).is_some()).kept;
    assert_eq!(got.len(), 3, "{}: every frame arrives", B::NAME);
    for (g, s) in got.iter().zip(&sent) {
        assert!(bytes_of(g) == *s, "{}: chain byte-identical", B::NAME);
        assert_eq!(g.pkt_len(), s.len());
        assert_eq!(g.nb_segs(), s.len().div_ceil(512).max(1), "segments used");
    }
    drop(got);
    drop(rx);
    drop(inj);
    fx.finish();
}

/// On a TAP.
pub fn rx_chain_when_frame_exceeds_buffer<B: SuiteBackend>() {
    rx_chain_on::<B>(Link::Tap);
}

/// On a TUN.
pub fn tun_rx_chain_when_packet_exceeds_buffer<B: SuiteBackend>() {
    rx_chain_on::<B>(Link::TUN);
}

/// On a TUN with packet information (the prefix in the first buffer).
pub fn tun_pi_rx_chain_when_packet_exceeds_buffer<B: SuiteBackend>() {
    rx_chain_on::<B>(Link::TUN_PI);
}

/// With every buffer held by the application, Rx delivers nothing and
/// counts `rx_nombuf`; once buffers are back, frames flow again.
fn rx_nombuf_on<B: SuiteBackend>(link: Link) {
    if !require_tap() {
        return;
    }
    let pool = PoolConfig::standard(64);
    let mut fx = Fixture::<B>::on(link, 1, VnetHdrLen::None, pool, SuiteOptions::default());
    let mut rx = fx.rx(0);
    let inj = fx.injector(link.ethertype());
    let mut hoard = Vec::new();
    while let Some(p) = fx.pool.alloc() {
        hoard.push(p);
    }
    inj.send(&link.frame(1, 60)).expect("inject");
    std::thread::sleep(Duration::from_millis(50));
    let mut burst: Burst<32> = Burst::new();
    for _ in 0..3 {
        assert_eq!(rx.rx_burst(&mut burst).expect("rx_burst"), 0);
    }
    assert!(rx.stats().rx_nombuf > 0, "{}: rx_nombuf counted", B::NAME);
    drop(hoard);
    let later = link.frame(2, 60);
    inj.send(&later).expect("inject");
    let got = receive(&mut rx, 1, |p| link.seq(p.data()) == Some(2)).kept;
    assert_eq!(got.len(), 1, "{}: frames flow again", B::NAME);
    assert!(bytes_of(&got[0]) == later, "the later frame intact");
    drop(got);
    drop(rx);
    drop(inj);
    fx.finish();
}

/// On a TAP.
pub fn rx_pool_exhausted_counts_nombuf<B: SuiteBackend>() {
    rx_nombuf_on::<B>(Link::Tap);
}

/// On a TUN with packet information.
pub fn tun_pi_rx_pool_exhausted_counts_nombuf<B: SuiteBackend>() {
    rx_nombuf_on::<B>(Link::TUN_PI);
}

/// Frames sent with `tx_burst` are captured byte-identical and in order by
/// an AF_PACKET socket on the interface, sizes 60..=MTU+14, and counted.
fn tx_in_order_on<B: SuiteBackend>(link: Link) {
    if !require_tap() {
        return;
    }
    let mut fx = Fixture::<B>::on(
        link,
        1,
        VnetHdrLen::None,
        standard_pool(),
        SuiteOptions::default(),
    );
    let mut tx = fx.tx(0);
    let cap = PacketSocket::bind(fx.info.ifindex, ETH_P_ALL).expect("capture socket");
    let sent: Vec<Vec<u8>> = (0..30u32)
        .map(|i| link.frame(i, link.sizes()[i as usize % link.sizes().len()]))
        .collect();
    send_all(&mut tx, sent.iter().map(|f| pkt_of(&fx.pool, f)).collect());
    drain_tx(&mut tx);
    let got = capture_by(&cap, link, sent.len());
    assert_eq!(got.len(), sent.len(), "{}: every frame captured", B::NAME);
    for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
        assert!(g == s, "{}: frame {i} byte-identical, in order", B::NAME);
    }
    let st = tx.stats();
    assert_eq!(st.packets, sent.len() as u64);
    assert_eq!(st.bytes, sent.iter().map(Vec::len).sum::<usize>() as u64);
    assert_eq!(st.drops.total(), 0, "{st:?}");
    drop(tx);
    drop(cap);
    fx.finish();
}

/// On a TAP.
pub fn tx_frames_are_captured_in_order<B: SuiteBackend>() {
    tx_in_order_on::<B>(Link::Tap);
}

/// On a TUN.
pub fn tun_tx_packets_are_captured_in_order<B: SuiteBackend>() {
    tx_in_order_on::<B>(Link::TUN);
}

/// On a TUN with packet information (the port prepends it; the kernel strips it).
pub fn tun_pi_tx_packets_are_captured_in_order<B: SuiteBackend>() {
    tx_in_order_on::<B>(Link::TUN_PI);
}

/// A chain of three segments leaves as one frame.
fn tx_chain_on<B: SuiteBackend>(link: Link) {
    if !require_tap() {
        return;
    }
    let mut fx = Fixture::<B>::on(
        link,
        1,
        VnetHdrLen::None,
        standard_pool(),
        SuiteOptions::default(),
    );
    let mut tx = fx.tx(0);
    let cap = PacketSocket::bind(fx.info.ifindex, ETH_P_ALL).expect("capture socket");
    let frame = link.frame(42, 1400);
    let mut head = pkt_of(&fx.pool, &frame[..100]);
    head.chain(pkt_of(&fx.pool, &frame[100..900]))
        .map_err(|(e, _)| e)
        .expect("chain");
    head.chain(pkt_of(&fx.pool, &frame[900..]))
        .map_err(|(e, _)| e)
        .expect("chain");
    assert_eq!(head.nb_segs(), 3);
    send_all(&mut tx, vec![head]);
    drain_tx(&mut tx);
    let got = capture_by(&cap, link, 1);
    assert!(got == vec![frame], "{}: one frame, byte-identical", B::NAME);
    assert_eq!(tx.stats().packets, 1);
    drop(tx);
    drop(cap);
    fx.finish();
}

/// On a TAP.
pub fn tx_chain_of_three_segments_is_one_frame<B: SuiteBackend>() {
    tx_chain_on::<B>(Link::Tap);
}

/// On a TUN with packet information (the prefix in the first segment's headroom).
pub fn tun_pi_tx_chain_of_three_segments_is_one_packet<B: SuiteBackend>() {
    tx_chain_on::<B>(Link::TUN_PI);
}

/// A frame above max_frame without a segmentation request is counted in
/// `drops.oversize`, consumed, returned to the pool and never written.
fn tx_oversize_on<B: SuiteBackend>(link: Link) {
    if !require_tap() {
        return;
    }
    let mut fx = Fixture::<B>::on(
        link,
        1,
        VnetHdrLen::None,
        standard_pool(),
        SuiteOptions::default(),
    );
    let max = fx.info.max_frame as usize;
    assert_eq!(
        max,
        link.framing().max_frame(1500) as usize,
        "max_frame is MTU + 14 + 4 (TAP) or the MTU (TUN)"
    );
    let mut tx = fx.tx(0);
    let cap = PacketSocket::bind(fx.info.ifindex, ETH_P_ALL).expect("capture socket");
    let mut burst: Burst<4> = Burst::new();
    burst
        .push(pkt_of(&fx.pool, &link.frame(1, max + 1)))
        .unwrap();
    burst.push(pkt_of(&fx.pool, &link.frame(2, max))).unwrap();
    let n = tx.tx_burst(&mut burst).expect("tx_burst");
    assert_eq!((n, burst.len()), (2, 0), "both consumed");
    drain_tx(&mut tx);
    let st = tx.stats();
    assert_eq!(
        st.drops.oversize,
        1,
        "{}: oversize counted: {st:?}",
        B::NAME
    );
    assert_eq!((st.packets, st.errors), (1, 1));
    let got = capture_by(&cap, link, 2);
    assert_eq!(got.len(), 1, "only the max-size frame goes out");
    assert_eq!(link.seq(&got[0]), Some(2));
    drop(tx);
    assert_eq!(
        fx.pool.stats().in_use,
        0,
        "{}: buffer back in the pool",
        B::NAME
    );
    drop(cap);
    fx.finish();
}

/// On a TAP: max_frame is MTU + 14 + 4.
pub fn tx_oversize_is_rejected_and_freed<B: SuiteBackend>() {
    tx_oversize_on::<B>(Link::Tap);
}

/// On a TUN: max_frame is the MTU.
pub fn tun_tx_oversize_is_rejected_and_freed<B: SuiteBackend>() {
    tx_oversize_on::<B>(Link::TUN);
}

/// On a TUN with packet information.
pub fn tun_pi_tx_oversize_is_rejected_and_freed<B: SuiteBackend>() {
    tx_oversize_on::<B>(Link::TUN_PI);
}

/// A packet shorter than an Ethernet header is counted in `drops.runt`
/// and consumed.
fn tx_runt_on<B: SuiteBackend>(link: Link) {
    if !require_tap() {
        return;
    }
    let mut fx = Fixture::<B>::on(
        link,
        1,
        VnetHdrLen::None,
        standard_pool(),
        SuiteOptions::default(),
    );
    let mut tx = fx.tx(0);
    let mut burst: Burst<4> = Burst::new();
    let min = link.framing().min_len() as usize;
    let mut runt = link.frame(9, 60);
    runt.truncate(min - 1);
    burst.push(pkt_of(&fx.pool, &runt)).unwrap();
    burst.push(pkt_of(&fx.pool, &link.frame(1, 60))).unwrap();
    let tun = link != Link::Tap;
    if tun {
        // Neither IPv4 nor IPv6 (an Ethernet frame, as a TAP would carry).
        burst.push(pkt_of(&fx.pool, &test_frame(2, 60))).unwrap();
    }
    let n = burst.len();
    assert_eq!(tx.tx_burst(&mut burst).expect("tx_burst"), n);
    drain_tx(&mut tx);
    let st = tx.stats();
    assert_eq!(st.drops.runt, 1, "{}: runt counted: {st:?}", B::NAME);
    assert_eq!(
        st.drops.not_ip,
        u64::from(tun),
        "{}: not IP: {st:?}",
        B::NAME
    );
    assert_eq!((st.packets, st.errors), (1, 1 + u64::from(tun)));
    let kernel = fx.port().stats().expect("port stats");
    assert_eq!(
        kernel.tx_packets,
        1,
        "{}: only the good one written",
        B::NAME
    );
    drop(tx);
    fx.finish();
}

/// On a TAP: shorter than an Ethernet header.
pub fn tx_runt_is_counted<B: SuiteBackend>() {
    tx_runt_on::<B>(Link::Tap);
}

/// On a TUN: shorter than an IPv4 header; and a packet that is not IPv4/IPv6 is refused before the write, in `drops.not_ip`.
pub fn tun_tx_runt_and_not_ip_are_counted<B: SuiteBackend>() {
    tx_runt_on::<B>(Link::TUN);
}

/// On a TUN with packet information.
pub fn tun_pi_tx_runt_and_not_ip_are_counted<B: SuiteBackend>() {
    tx_runt_on::<B>(Link::TUN_PI);
}

/// Writing to an interface that is down fails with EIO: the packet is
/// consumed and counted as an I/O error (the sender is never wedged).
fn tx_link_down_on<B: SuiteBackend>(link: Link) {
    if !require_tap() {
        return;
    }
    let mut fx = Fixture::<B>::on_with(
        link,
        1,
        VnetHdrLen::None,
        standard_pool(),
        SuiteOptions::default(),
        false,
    );
    let mut tx = fx.tx(0);
    let pkts = (0..3)
        .map(|i| pkt_of(&fx.pool, &link.frame(i, 60)))
        .collect();
    send_all(&mut tx, pkts);
    drain_tx(&mut tx);
    let st = tx.stats();
    assert_eq!(st.drops.io_error, 3, "{}: EIO counted: {st:?}", B::NAME);
    assert_eq!(st.last_errno, -libc::EIO);
    assert_eq!(st.packets, 0);
    drop(tx);
    fx.finish();
}

/// On a TAP.
pub fn tx_link_down_is_consumed_as_io_error<B: SuiteBackend>() {
    tx_link_down_on::<B>(Link::Tap);
}

/// On a TUN.
pub fn tun_tx_link_down_is_consumed_as_io_error<B: SuiteBackend>() {
    tx_link_down_on::<B>(Link::TUN);
}

/// How long a queue may take to notice that its device was deleted.
const NOTICE_GONE: Duration = Duration::from_secs(1);

fn device_deleted_on<B: SuiteBackend>(link: Link) {
    if !require_tap() {
        return;
    }
    let mut fx = Fixture::<B>::on(
        link,
        1,
        VnetHdrLen::None,
        standard_pool(),
        SuiteOptions::default(),
    );
    let (mut rx, mut tx) = (fx.rx(0), fx.tx(0));
    // Load: the kernel side injects frames while the queues move them.
    let inj = fx.injector(link.ethertype());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let injecting = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + PATIENCE;
            let mut seq = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                // Fails once the device is gone: that is the point.
                let _ = inj.send(&link.frame(seq, 200));
                seq += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    let mut burst: Burst = Burst::new();
    let mut received = 0;
    let warm = Instant::now() + Duration::from_millis(200);
    while Instant::now() < warm {
        received += rx.rx_burst(&mut burst).expect("rx before the deletion");
        burst.clear();
    }
    assert!(
        received > 0,
        "{}: frames flowed before the deletion",
        B::NAME
    );
    assert!(quiet_ip(&["link", "del", "dev", &fx.name]), "ip link del");
    let deleted = Instant::now();
    let (mut rx_err, mut tx_err) = (None, None);
    let mut seq = 0;
    while (rx_err.is_none() || tx_err.is_none()) && deleted.elapsed() < 3 * NOTICE_GONE {
        if rx_err.is_none()
            && let Err(e) = rx.rx_burst(&mut burst)
        {
            rx_err = Some((e, deleted.elapsed()));
        }
        burst.clear();
        if tx_err.is_none() {
            let mut out: Burst = Burst::new();
            out.push(pkt_of(&fx.pool, &link.frame(seq, 100)))
                .expect("room");
            seq += 1;
            let r = tx.tx_burst(&mut out).and_then(|_| tx.reclaim());
            if let Err(e) = r {
                tx_err = Some((e, deleted.elapsed()));
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    injecting.join().expect("injector");
    for (dir, got) in [("rx", &rx_err), ("tx", &tx_err)] {
        let Some((e, after)) = got else {
            panic!("{}: {dir} never reported the deleted device", B::NAME);
        };
        assert!(
            matches!(e, tapring_core::Error::DeviceGone { .. }),
            "{}: {dir} reports the deletion as DeviceGone, got {e}",
            B::NAME
        );
        assert!(
            *after < NOTICE_GONE,
            "{}: {dir} noticed the deletion only after {after:?}",
            B::NAME
        );
    }
    // For good: every later call says so too, and nothing is held.
    assert!(matches!(
        rx.rx_burst(&mut burst),
        Err(tapring_core::Error::DeviceGone { .. })
    ));
    assert!(matches!(
        tx.tx_burst(&mut burst),
        Err(tapring_core::Error::DeviceGone { .. })
    ));
    assert_eq!(
        fx.pool.stats().in_use,
        0,
        "{}: the stopped queues gave every buffer back",
        B::NAME
    );
    drop((rx, tx));
    fx.finish();
}

/// On a TAP: deleted under load, both directions report `DeviceGone`
/// within a second, stop, and give every buffer back.
pub fn device_deleted_under_load_is_reported<B: SuiteBackend>() {
    device_deleted_on::<B>(Link::Tap);
}

/// On a TUN.
pub fn tun_device_deleted_under_load_is_reported<B: SuiteBackend>() {
    device_deleted_on::<B>(Link::TUN);
}

/// With a 12-byte virtio-net header, plain frames still round trip both
/// ways (header all zero on Tx, decoded and stripped on Rx).
fn vnet_round_trip_on<B: SuiteBackend>(link: Link) {
    if !require_tap() {
        return;
    }
    let mut fx = Fixture::<B>::on(
        link,
        1,
        VnetHdrLen::Mergeable,
        standard_pool(),
        SuiteOptions::default(),
    );
    assert_eq!(fx.info.vnet_hdr_len, tapring_core::VnetHdrLen::Mergeable);
    let mut rx = fx.rx(0);
    let mut tx = fx.tx(0);
    let inj = fx.injector(link.ethertype());
    let cap = PacketSocket::bind(fx.info.ifindex, ETH_P_ALL).expect("capture socket");
    // Tx first (the capture socket would also see injected frames leave).
    let out: Vec<Vec<u8>> = [link.sizes()[0], 61, link.sizes()[4]]
        .iter()
        .map(|&l| link.frame(l as u32, l))
        .collect();
    send_all(&mut tx, out.iter().map(|f| pkt_of(&fx.pool, f)).collect());
    drain_tx(&mut tx);
    assert!(
        capture_by(&cap, link, out.len()) == out,
        "{}: Tx with header",
        B::NAME
    );
    assert_eq!(
        tx.stats().bytes,
        out.iter().map(Vec::len).sum::<usize>() as u64
    );
    drop(cap);
    let inb: Vec<Vec<u8>> = [link.sizes()[0], 128, link.sizes()[4]]
        .iter()
        .map(|&l| link.frame(1000 + l as u32, l))
        .collect();
    for f in &inb {
        inj.send(f).expect("inject");
    }
    let recv = receive(&mut rx, inb.len(), |p| link.seq(p.data()).is_some());
    let got_bytes: Vec<Vec<u8>> = recv.kept.iter().map(bytes_of).collect();
    assert!(got_bytes == inb, "{}: Rx header stripped", B::NAME);
    assert!(recv.kept.iter().all(|p| p.offload().is_none()));
    assert_rx_counted(&rx.stats(), &recv);
    drop(recv);
    drop((rx, tx));
    drop(inj);
    fx.finish();
}

/// On a TAP.
pub fn vnet_hdr_12_round_trip<B: SuiteBackend>() {
    vnet_round_trip_on::<B>(Link::Tap);
}

/// On a TUN.
pub fn tun_vnet_hdr_12_round_trip<B: SuiteBackend>() {
    vnet_round_trip_on::<B>(Link::TUN);
}

/// On a TUN with packet information: `[pi][vnet header][packet]` both ways.
pub fn tun_pi_vnet_hdr_12_round_trip<B: SuiteBackend>() {
    vnet_round_trip_on::<B>(Link::TUN_PI);
}

fn multi_queue<B: SuiteBackend>(link: Link, queues: u16) {
    if !require_tap() {
        return;
    }
    let mut fx = Fixture::<B>::on(
        link,
        usize::from(queues),
        VnetHdrLen::None,
        standard_pool(),
        SuiteOptions::default(),
    );
    assert_eq!(fx.info.rx_queues, queues);
    let mut rxs: Vec<_> = (0..queues).map(|q| fx.rx(q)).collect();
    let inj = fx.injector(ETH_P_IP);
    let total = 256u32;
    for seq in 0..total {
        inj.send(&link.udp(60, (seq % 64) as u16, seq))
            .expect("inject");
    }
    let mut seen = HashSet::new();
    let mut per_queue = vec![0usize; usize::from(queues)];
    let mut others = 0u64;
    let deadline = Instant::now() + PATIENCE;
    let mut burst: Burst<32> = Burst::new();
    while seen.len() < total as usize && Instant::now() < deadline {
        let mut any = false;
        for (q, rx) in rxs.iter_mut().enumerate() {
            rx.rx_burst(&mut burst).expect("rx_burst");
            any |= !burst.is_empty();
            burst.drain_each(|p| {
                if let Some(seq) = link.udp_seq(p.data()) {
                    assert_eq!(usize::from(p.queue()), q, "origin queue stamped");
                    assert!(seen.insert(seq), "{}: frame {seq} arrived twice", B::NAME);
                    per_queue[q] += 1;
                } else {
                    others += 1;
                }
            });
        }
        if !any {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(
        seen.len(),
        total as usize,
        "{}: every frame exactly once ({per_queue:?})",
        B::NAME
    );
    if queues > 1 {
        let used = per_queue.iter().filter(|&&n| n > 0).count();
        assert!(used > 1, "flows spread over queues: {per_queue:?}");
    }
    let counted: u64 = rxs.iter().map(|r| r.stats().packets).sum();
    assert_eq!(counted, u64::from(total) + others, "packets counted once");
    drop(rxs);
    drop(inj);
    fx.finish();
}

/// One queue: 256 UDP flows, every frame arrives exactly once.
pub fn multi_queue_1<B: SuiteBackend>() {
    multi_queue::<B>(Link::Tap, 1);
}

/// Two queues: every frame exactly once on some queue; flows spread.
pub fn multi_queue_2<B: SuiteBackend>() {
    multi_queue::<B>(Link::Tap, 2);
}

/// Four queues: every frame exactly once on some queue; flows spread.
pub fn multi_queue_4<B: SuiteBackend>() {
    multi_queue::<B>(Link::Tap, 4);
}

/// On a TUN, two queues: every packet exactly once; flows spread.
pub fn tun_multi_queue_2<B: SuiteBackend>() {
    multi_queue::<B>(Link::TUN, 2);
}

/// On a TUN, four queues.
pub fn tun_multi_queue_4<B: SuiteBackend>() {
    multi_queue::<B>(Link::TUN, 4);
}

/// On a TUN with packet information, two queues.
pub fn tun_pi_multi_queue_2<B: SuiteBackend>() {
    multi_queue::<B>(Link::TUN_PI, 2);
}

/// Frames the kernel drops because nobody reads the queue (its ring of
/// tx_queue_len = 1000 frames is full) show in `imissed`.
fn imissed_on<B: SuiteBackend>(link: Link) {
    if !require_tap() {
        return;
    }
    let mut fx = Fixture::<B>::on(
        link,
        1,
        VnetHdrLen::None,
        standard_pool(),
        SuiteOptions::default(),
    );
    let rx = fx.rx(0);
    let inj = fx.injector(link.ethertype());
    let before = fx.port().stats().expect("port stats").imissed;
    let frame = link.frame(0, 60);
    // 1000 fill the kernel's ring; up to 256 more may sit in buffers an
    // io_uring queue has posted; the rest must be counted as missed.
    for _ in 0..1500 {
        inj.send(&frame).expect("inject");
    }
    // Frames already lent to the kernel (io_uring) are not in the ring.
    let missed = fx.port().stats().expect("port stats").imissed - before;
    assert!(missed >= 100, "{}: imissed {missed}, want >= 100", B::NAME);
    drop(rx);
    drop(inj);
    fx.finish();
}

/// On a TAP.
pub fn imissed_counts_kernel_ring_drops<B: SuiteBackend>() {
    imissed_on::<B>(Link::Tap);
}

/// On a TUN.
pub fn tun_imissed_counts_kernel_ring_drops<B: SuiteBackend>() {
    imissed_on::<B>(Link::TUN);
}

/// Queues are taken once; asking again, or for a queue that does not
/// exist, is a typed error.
pub fn take_queue_twice_is_an_error<B: SuiteBackend>() {
    if !require_tap() {
        return;
    }
    let mut fx = Fixture::<B>::new(
        2,
        VnetHdrLen::None,
        standard_pool(),
        SuiteOptions::default(),
    );
    let rx = fx.rx(1);
    let tx = fx.tx(1);
    // Each backend wraps core's error transparently: the message is the
    // core error's, whatever the backend's error type.
    let taken = |queue| tapring_core::Error::QueueTaken { queue }.to_string();
    let no_such = |queue, count| tapring_core::Error::NoSuchQueue { queue, count }.to_string();
    let err = |r: Result<_, <B::Port as Port>::Error>| r.err().map(|e| e.to_string());
    assert_eq!(err(fx.port().take_rx(1).map(drop)), Some(taken(1)));
    assert_eq!(err(fx.port().take_tx(1).map(drop)), Some(taken(1)));
    assert_eq!(err(fx.port().take_rx(2).map(drop)), Some(no_such(2, 2)));
    drop((rx, tx));
    fx.finish();
}

/// The kernel as a peer: the interface lives in its own network namespace
/// with 198.18.0.1/24; a host written on tapring queues answers ARP and
/// ICMP echo for 198.18.0.2; three echo requests from the namespace
/// ([`crate::ping_in_netns`]) must all come back.
pub fn kernel_peer_ping<B: SuiteBackend>() {
    if !require_tap() {
        return;
    }
    let mut fx = Fixture::<B>::with(
        1,
        VnetHdrLen::None,
        standard_pool(),
        SuiteOptions::default(),
        false,
    );
    let ns = NetnsGuard::new();
    let name = fx.name.clone();
    let nsn = ns.name().to_owned();
    assert!(quiet_ip(&["link", "set", "dev", &name, "netns", &nsn]));
    assert!(quiet_ip(&[
        "-n",
        &nsn,
        "addr",
        "add",
        "198.18.0.1/24",
        "dev",
        &name
    ]));
    assert!(quiet_ip(&["-n", &nsn, "link", "set", "dev", &name, "up"]));
    let mut rx = fx.rx(0);
    let mut tx = fx.tx(0);
    // The kernel pings from the namespace (our own ICMP client, no `ping`
    // binary) while this thread answers on the tapring queues.
    let ping = {
        let nsn = nsn.clone();
        std::thread::spawn(move || {
            crate::ping_in_netns(
                Some(&nsn),
                std::net::Ipv4Addr::new(198, 18, 0, 2),
                56,
                3,
                Duration::from_millis(200),
                Duration::from_secs(2),
            )
        })
    };
    let ip = [198, 18, 0, 2];
    let mac = [0x02, 0x7a, 0x70, 0, 0, 0x42];
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut rx_burst: Burst<32> = Burst::new();
    let mut tx_burst: Burst<32> = Burst::new();
    let mut out = vec![0u8; 2048];
    let (mut arps, mut echoes) = (0, 0);
    // The client bounds itself (about 2.4 s); the deadline is a backstop.
    while !ping.is_finished() && Instant::now() < deadline {
        rx.wait(Some(Duration::from_millis(20))).expect("wait");
        rx.rx_burst(&mut rx_burst).expect("rx_burst");
        let pool = fx.pool.clone();
        rx_burst.drain_each(|p| {
            let reply = respond(p.data(), ip, mac, &mut out);
            let len = match reply {
                Reply::Ignore => return,
                Reply::Arp(n) => {
                    arps += 1;
                    n
                }
                Reply::Echo(n) => {
                    echoes += 1;
                    n
                }
            };
            let _ = tx_burst.push(pkt_of(&pool, &out[..len]));
        });
        tx.tx_burst(&mut tx_burst).expect("tx_burst");
        tx_burst.clear();
        let _ = tx.reclaim();
    }
    assert!(ping.is_finished(), "{}: ping did not end", B::NAME);
    let report = ping.join().expect("ping thread");
    assert!(
        report.as_ref().is_ok_and(|r| r.all_replied()),
        "{}: ping through the tapring host: {report:?} (arp replies {arps}, echo replies {echoes})",
        B::NAME
    );
    assert!(arps >= 1 && echoes >= 3, "arp {arps}, echo {echoes}");
    drain_tx(&mut tx);
    drop((rx, tx));
    fx.finish();
    drop(ns);
}

/// The kernel as a peer of a TUN port: the TUN lives in its own namespace
/// with 198.18.0.1/24 (no ARP: a TUN has no link layer, the route points
/// at the device); a host written on tapring queues answers ICMP echo for
/// 198.18.0.2; three echo requests from the namespace must all come back
/// (the kernel checks the IPv4 and ICMP checksums of every reply).
fn kernel_peer_ping_tun<B: SuiteBackend>(link: Link) {
    if !require_tap() {
        return;
    }
    let mut fx = Fixture::<B>::on_with(
        link,
        1,
        VnetHdrLen::None,
        standard_pool(),
        SuiteOptions::default(),
        false,
    );
    let ns = NetnsGuard::new();
    let name = fx.name.clone();
    let nsn = ns.name().to_owned();
    assert!(quiet_ip(&["link", "set", "dev", &name, "netns", &nsn]));
    assert!(quiet_ip(&[
        "-n",
        &nsn,
        "addr",
        "add",
        "198.18.0.1/24",
        "dev",
        &name
    ]));
    assert!(quiet_ip(&["-n", &nsn, "link", "set", "dev", &name, "up"]));
    let mut rx = fx.rx(0);
    let mut tx = fx.tx(0);
    let ping = {
        let nsn = nsn.clone();
        std::thread::spawn(move || {
            crate::ping_in_netns(
                Some(&nsn),
                std::net::Ipv4Addr::new(198, 18, 0, 2),
                56,
                3,
                Duration::from_millis(200),
                Duration::from_secs(2),
            )
        })
    };
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut rx_burst: Burst<32> = Burst::new();
    let mut tx_burst: Burst<32> = Burst::new();
    let mut out = vec![0u8; 2048];
    let mut echoes = 0;
    while !ping.is_finished() && Instant::now() < deadline {
        rx.wait(Some(Duration::from_millis(20))).expect("wait");
        rx.rx_burst(&mut rx_burst).expect("rx_burst");
        let pool = fx.pool.clone();
        rx_burst.drain_each(|p| {
            if let Some(n) = respond_ip(p.data(), [198, 18, 0, 2], &mut out) {
                echoes += 1;
                let _ = tx_burst.push(pkt_of(&pool, &out[..n]));
            }
        });
        tx.tx_burst(&mut tx_burst).expect("tx_burst");
        tx_burst.clear();
        let _ = tx.reclaim();
    }
    assert!(ping.is_finished(), "{}: ping did not end", B::NAME);
    let report = ping.join().expect("ping thread");
    assert!(
        report.as_ref().is_ok_and(|r| r.all_replied()),
        "{}: ping through the tapring host on a TUN ({link:?}): {report:?} (echo replies {echoes})",
        B::NAME
    );
    assert!(echoes >= 3, "echo {echoes}");
    drain_tx(&mut tx);
    drop((rx, tx));
    fx.finish();
    drop(ns);
}

/// The kernel pings a tapring host on a TUN.
pub fn tun_kernel_peer_ping<B: SuiteBackend>() {
    kernel_peer_ping_tun::<B>(Link::TUN);
}

/// The kernel pings a tapring host on a TUN with packet information.
pub fn tun_pi_kernel_peer_ping<B: SuiteBackend>() {
    kernel_peer_ping_tun::<B>(Link::TUN_PI);
}

/// Source MAC of the TCP frames of [`gso_frames_up_to_64k_cross_a_bridge`].
const GSO_SRC_MAC: [u8; 6] = [0x02, 0x7a, 0x70, 0, 0, 0x0a];
/// The MSS those frames ask to be segmented at.
const GSO_MSS: u16 = 1448;
/// Ethernet + IPv4 + TCP header bytes of those frames.
const GSO_HDR_LEN: usize = 14 + 20 + 20;

/// A TCP/IPv4 frame from [`GSO_SRC_MAC`] carrying `payload` bytes of a
/// pattern that starts with `seq` (so every frame is distinct), with a
/// correct IPv4 header checksum (bridge netfilter checks it) and the TCP
/// checksum left for the kernel (the request is in the metadata).
fn tcp_frame(seq: u32, payload: usize) -> Vec<u8> {
    let mut f = vec![0u8; GSO_HDR_LEN + payload];
    f[..6].copy_from_slice(&[0x02, 0x7a, 0x70, 0, 0, 0x0b]);
    f[6..12].copy_from_slice(&GSO_SRC_MAC);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + 20 + payload) as u16).to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&[198, 18, 9, 1]);
    ip[16..20].copy_from_slice(&[198, 18, 9, 2]);
    let csum = crate::inet_checksum(&[ip]);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    let tcp = &mut f[34..54];
    tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&5201u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x18; // PSH, ACK
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    for (i, b) in f[GSO_HDR_LEN..].iter_mut().enumerate() {
        *b = (i as u32).wrapping_add(seq.wrapping_mul(7)) as u8;
    }
    f
}

/// The offload request of a [`tcp_frame`]: a partial checksum, and
/// segmentation at [`GSO_MSS`] when the payload is larger than that.
fn tcp_offload(payload: usize) -> Offload {
    Offload {
        csum: Checksum::Partial {
            start: 34,
            offset: 16,
        },
        gso: (payload > usize::from(GSO_MSS)).then_some(Gso {
            kind: GsoKind::Tcpv4,
            size: GSO_MSS,
            hdr_len: GSO_HDR_LEN as u16,
            ecn: false,
        }),
    }
}

/// Offloaded TCP frames of every size from 1 byte of payload to about
/// 64 KiB, written on port A with checksum and segmentation requests (the
/// larger ones as three-segment chains), cross a Linux bridge as they are (both ports negotiated CSUM and TSO)
/// and are read on port B byte-identical, each with the same requests in
/// its metadata: large frames in one buffer (a 64 KiB pool), offload
/// metadata encoded on Tx and decoded on Rx.
pub fn gso_frames_up_to_64k_cross_a_bridge<B: SuiteBackend>() {
    if !require_tap() {
        return;
    }
    let mut pair = BridgedPair::<B>::new(
        "trg",
        PoolConfig::large(256),
        |c| {
            c.vnet_hdr(VnetHdrLen::Mergeable)
                .offloads(Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6)
        },
        |c| {
            c.vnet_hdr(VnetHdrLen::Mergeable)
                .offloads(Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6)
        },
    );
    let pool = pair.pool.clone();
    let (mut tx, mut rx) = pair.a_to_b();
    let sizes = [
        1usize, 100, 1447, 1448, 1449, 2896, 2897, 4000, 8192, 9001, 16384, 32768, 40000, 60000,
        65000,
    ];
    let frames: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| tcp_frame(i as u32, n))
        .collect();
    // Prime: the bridge must learn nothing else first, and the link is up.
    let _ = receive(&mut rx, 0, |_| false);
    // From 9001 bytes of payload on, frames go out as chains of three
    // segments (headers, then the payload in two parts): gather writes.
    let pkts = frames
        .iter()
        .zip(sizes)
        .map(|(f, n)| {
            let mut p = if n < 9001 {
                pkt_of(&pool, f)
            } else {
                let mid = GSO_HDR_LEN + n / 2;
                let mut head = pkt_of(&pool, &f[..GSO_HDR_LEN]);
                for part in [&f[GSO_HDR_LEN..mid], &f[mid..]] {
                    head.chain(pkt_of(&pool, part))
                        .unwrap_or_else(|(e, _)| panic!("chain: {e}"));
                }
                assert_eq!(head.nb_segs(), 3);
                head
            };
            p.set_offload(tcp_offload(n));
            p
        })
        .collect();
    send_all(&mut tx, pkts);
    drain_tx(&mut tx);
    assert_eq!(
        tx.stats().drops.total(),
        0,
        "{}: every frame written: {:?}",
        B::NAME,
        tx.stats()
    );
    let recv = receive(&mut rx, frames.len(), |p| {
        p.data().get(6..12) == Some(&GSO_SRC_MAC[..])
    });
    let got: Vec<Vec<u8>> = recv.kept.iter().map(bytes_of).collect();
    let lens: Vec<usize> = got.iter().map(Vec::len).collect();
    let want: Vec<usize> = frames.iter().map(Vec::len).collect();
    assert_eq!(lens, want, "{}: frame lengths across the bridge", B::NAME);
    assert!(got == frames, "{}: frame bytes across the bridge", B::NAME);
    for (p, n) in recv.kept.iter().zip(sizes) {
        let off = p.offload();
        let sent = tcp_offload(n);
        assert_eq!(off.csum, sent.csum, "{}: {n}-byte payload", B::NAME);
        assert_eq!(
            off.gso.map(|g| (g.kind, g.size)),
            sent.gso.map(|g| (g.kind, g.size)),
            "{}: {n}-byte payload",
            B::NAME
        );
    }
    let rs = rx.stats();
    assert_eq!(rs.drops.total(), 0, "{}: {rs:?}", B::NAME);
    assert!(
        rs.xstats.gso >= sizes.iter().filter(|&&n| n > usize::from(GSO_MSS)).count() as u64,
        "{}: GSO frames counted: {rs:?}",
        B::NAME
    );
    drop(recv);
    drop((rx, tx, pool));
    pair.finish();
}

/// IP and L4 of a frame built for [`kernel_finishes_what_the_headers_helper_asked`].
#[derive(Clone, Copy, Debug)]
enum Flavour {
    Tcp4,
    Tcp6,
    Udp4,
}

/// A frame of `flavour` from [`GSO_SRC_MAC`] with `payload` pattern bytes
/// (starting at `seq`), correct IP header (IPv4 header checksum included),
/// L4 checksum field zero (the helper fills it).
fn l4_frame(flavour: Flavour, seq: u32, payload: usize) -> Vec<u8> {
    let (v6, tcp) = match flavour {
        Flavour::Tcp4 => (false, true),
        Flavour::Tcp6 => (true, true),
        Flavour::Udp4 => (false, false),
    };
    let (ip_len, l4_len) = (if v6 { 40 } else { 20 }, if tcp { 20 } else { 8 });
    let mut f = vec![0u8; 14 + ip_len + l4_len + payload];
    f[..6].copy_from_slice(&[0x02, 0x7a, 0x70, 0, 0, 0x0b]);
    f[6..12].copy_from_slice(&GSO_SRC_MAC);
    f[12..14].copy_from_slice(&(if v6 { 0x86ddu16 } else { 0x0800 }).to_be_bytes());
    let proto = if tcp { 6 } else { 17 };
    if v6 {
        let ip = &mut f[14..54];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&((l4_len + payload) as u16).to_be_bytes());
        ip[6] = proto;
        ip[7] = 64;
        ip[8..24].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        ip[24..40].copy_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    } else {
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((20 + l4_len + payload) as u16).to_be_bytes());
        ip[6] = 0x40;
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&[198, 18, 9, 1]);
        ip[16..20].copy_from_slice(&[198, 18, 9, 2]);
        let c = inet_checksum(&[ip]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    let l4 = 14 + ip_len;
    f[l4..l4 + 2].copy_from_slice(&40000u16.to_be_bytes());
    f[l4 + 2..l4 + 4].copy_from_slice(&5201u16.to_be_bytes());
    if tcp {
        f[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
        f[l4 + 12] = 5 << 4;
        f[l4 + 13] = 0x18;
        f[l4 + 14..l4 + 16].copy_from_slice(&65535u16.to_be_bytes());
    } else {
        f[l4 + 4..l4 + 6].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
    }
    for (i, b) in f[l4 + l4_len..].iter_mut().enumerate() {
        *b = (i as u32).wrapping_add(seq.wrapping_mul(13)) as u8;
    }
    f
}

/// True when the frame's L4 checksum verifies (pseudo header included).
fn l4_checksum_ok(frame: &[u8]) -> bool {
    let Ok(h) = tapring_core::wire::headers::parse(frame) else {
        return false;
    };
    let (l3, l4) = (h.l3_offset(), h.l4_offset());
    let ip = &frame[l3..];
    let (addrs, proto) = match h.ip() {
        tapring_core::IpVersion::V4 => (&ip[12..20], ip[9]),
        tapring_core::IpVersion::V6 => (&ip[8..40], ip[6]),
    };
    let len = (frame.len() - l4) as u32;
    inet_checksum(&[addrs, &[0, proto], &len.to_be_bytes(), &frame[l4..]]) == 0
}

/// Frames whose offload requests come from `tapring_core::wire::offload_request`
/// (`request_segmentation`), written on port A (CSUM + TSO, and USO where
/// the kernel has it), cross a bridge to port B, which negotiated no
/// offloads: the kernel must segment them and finish every checksum in
/// software. Every segment read on B must carry a valid L4 checksum, and
/// the segments' payloads must add up to the original payload. This is the
/// kernel's verdict on the helper's checksum field and header lengths.
pub fn kernel_finishes_what_the_headers_helper_asked<B: SuiteBackend>() {
    if !require_tap() {
        return;
    }
    let uso = Offloads::USO4 | Offloads::USO6;
    let has_uso = tapring_device::probe()
        .accepted_offloads
        .is_some_and(|o| o.contains(uso));
    let mut offloads = Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6;
    if has_uso {
        offloads |= uso;
    }
    let mut pair = BridgedPair::<B>::new(
        "trh",
        PoolConfig::large(256),
        |c| c.vnet_hdr(VnetHdrLen::Mergeable).offloads(offloads),
        |c| c,
    );
    let pool = pair.pool.clone();
    let (mut tx, mut rx) = pair.a_to_b();
    let mut cases = vec![
        (Flavour::Tcp4, 20_000usize, 1448u16),
        (Flavour::Tcp6, 9_000, 1428),
        (Flavour::Tcp4, 1_000, 1448),
    ];
    if has_uso {
        cases.push((Flavour::Udp4, 4_000, 1400));
    }
    let mut expected = 0;
    let mut pkts = Vec::new();
    for (i, &(flavour, payload, mss)) in cases.iter().enumerate() {
        let frame = l4_frame(flavour, i as u32, payload);
        let mut p = pkt_of(&pool, &frame);
        tapring_core::wire::offload_request::request_segmentation(&mut p, mss)
            .unwrap_or_else(|e| panic!("{flavour:?}: {e}"));
        expected += payload.div_ceil(usize::from(mss));
        pkts.push(p);
    }
    send_all(&mut tx, pkts);
    drain_tx(&mut tx);
    assert_eq!(tx.stats().drops.total(), 0, "{}: {:?}", B::NAME, tx.stats());
    let recv = receive(&mut rx, expected, |p| {
        p.data().get(6..12) == Some(&GSO_SRC_MAC[..])
    });
    assert_eq!(
        recv.kept.len(),
        expected,
        "{}: segments of {cases:?}",
        B::NAME
    );
    let built: Vec<(Vec<u8>, usize)> = cases
        .iter()
        .enumerate()
        .map(|(i, &(fl, payload, _))| {
            let f = l4_frame(fl, i as u32, payload);
            let hdr = tapring_core::wire::headers::parse(&f)
                .expect("built frame parses")
                .hdr_len();
            (f, hdr)
        })
        .collect();
    let mut payloads: Vec<Vec<u8>> = vec![Vec::new(); cases.len()];
    for p in &recv.kept {
        let f = bytes_of(p);
        assert!(f.len() <= 1514, "{}: a {}-byte segment", B::NAME, f.len());
        assert!(
            l4_checksum_ok(&f),
            "{}: a segment with a bad L4 checksum: {:02x?}",
            B::NAME,
            &f[..f.len().min(80)]
        );
        let h = tapring_core::wire::headers::parse(&f).expect("segment parses");
        let seg = &f[h.hdr_len()..];
        // Segments of one frame arrive in order: a segment belongs to the
        // frame of the same IP version and L4 whose payload continues with
        // it where the segments so far left off.
        let case = built
            .iter()
            .enumerate()
            .position(|(i, (want, hdr))| {
                let wh = tapring_core::wire::headers::parse(want).expect("built frame parses");
                wh.ip() == h.ip()
                    && wh.l4() == h.l4()
                    && want[hdr + payloads[i].len()..].starts_with(seg)
            })
            .unwrap_or_else(|| panic!("{}: a segment matching no frame", B::NAME));
        payloads[case].extend_from_slice(seg);
    }
    for (((fl, payload, _), (want, hdr)), got) in cases.iter().zip(&built).zip(&payloads) {
        assert!(
            got[..] == want[*hdr..],
            "{}: {fl:?} payload of {payload} bytes reassembled",
            B::NAME
        );
    }
    drop(recv);
    drop((rx, tx, pool));
    pair.finish();
}

/// The kernel as the oracle of software GRO: 40 MSS-sized TCP/IPv4
/// segments of one flow (and a shorter last one with PSH), as a kernel
/// without offloads sends them, are coalesced by `tapring_core::wire::gro`
/// and written as GSO frames on port A (CSUM + TSO); the bridge hands them
/// to port B, which negotiated no offloads, so the kernel segments them
/// with its own rules and finishes every checksum. What B reads must be
/// the original segments byte for byte (a checksum of 0 read as 0xffff).
pub fn kernel_segments_what_gro_coalesced<B: SuiteBackend>() {
    if !require_tap() {
        return;
    }
    use tapring_core::wire::gro::{Coalescer, GroLimits};
    let mut pair = BridgedPair::<B>::new(
        "trg",
        PoolConfig::large(256),
        |c| {
            c.vnet_hdr(VnetHdrLen::Mergeable)
                .offloads(Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6)
        },
        |c| c,
    );
    let pool = pair.pool.clone();
    let (mut tx, mut rx) = pair.a_to_b();
    let mss = 1448usize;
    let segments: Vec<Vec<u8>> = (0..41u32)
        .map(|i| {
            let len = if i == 40 { 333 } else { mss };
            let payload: Vec<u8> = (0..len).map(|x| (x as u32 * 7 + i) as u8).collect();
            crate::tcp_segment(5000 + i * mss as u32, 300 + i as u16, &payload, i == 40)
        })
        .collect();
    let mut burst: Burst<64> = Burst::new();
    for f in &segments {
        burst.push(pkt_of(&pool, f)).expect("room in the burst");
    }
    let report = Coalescer::<8>::new().coalesce(
        &mut burst,
        Framing::Ethernet,
        &GroLimits::new(Framing::Ethernet),
    );
    assert_eq!(
        (report.coalesced, report.merged),
        (1, 40),
        "{}: one super-frame: {report:?}",
        B::NAME
    );
    let mut pkts = Vec::new();
    burst.drain_each(|p| pkts.push(p));
    send_all(&mut tx, pkts);
    drain_tx(&mut tx);
    assert_eq!(tx.stats().drops.total(), 0, "{}: {:?}", B::NAME, tx.stats());
    let recv = receive(&mut rx, segments.len(), |p| {
        p.data().get(6..12) == Some(&crate::TEST_SRC[..])
    });
    let normalized = |mut f: Vec<u8>| {
        if f.get(50..52) == Some(&[0, 0]) {
            f[50..52].copy_from_slice(&[0xff, 0xff]);
        }
        f
    };
    let got: Vec<Vec<u8>> = recv.kept.iter().map(|p| normalized(bytes_of(p))).collect();
    let want: Vec<Vec<u8>> = segments.into_iter().map(normalized).collect();
    assert_eq!(got.len(), want.len(), "{}: segments read on B", B::NAME);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            g == w,
            "{}: segment {i} differs: got {:02x?}, want {:02x?}",
            B::NAME,
            &g[..g.len().min(64)],
            &w[..w.len().min(64)]
        );
    }
    drop(recv);
    drop((rx, tx, pool));
    pair.finish();
}

/// Writes sysctls (`("net/ipv4/ip_forward", "1")`, paths under
/// `/proc/sys`) in network namespace `netns`, from a thread that joins it
/// (per-namespace sysctls are the writer's namespace's).
fn sysctl_in_netns(netns: &str, settings: &[(&str, &str)]) {
    use std::os::fd::AsFd;
    let path = format!("/run/netns/{netns}");
    let settings: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .unwrap_or_else(|e| panic!("setns {path}: {e}"));
        for (key, value) in &settings {
            std::fs::write(format!("/proc/sys/{key}"), value)
                .unwrap_or_else(|e| panic!("sysctl {key} = {value} in {path}: {e}"));
        }
    })
    .join()
    .expect("sysctl thread");
}

/// Source and destination of the routed TUN cases: written on port A from
/// a host "behind" A, routed by the kernel out of port B.
const ROUTED_V4: ([u8; 4], [u8; 4]) = ([198, 18, 21, 2], [198, 18, 22, 2]);
/// The IPv6 pair (fd00:21::2 -> fd00:22::2).
const ROUTED_V6: ([u8; 16], [u8; 16]) = (
    [0xfd, 0, 0, 0x21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
    [0xfd, 0, 0, 0x22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
);

/// Two TUN ports in a fresh network namespace that routes between them:
/// A is 198.18.21.1/24 and fd00:21::1/64, B 198.18.22.1/24 and
/// fd00:22::1/64, forwarding on. A packet written on A from behind it
/// (198.18.21.2 -> 198.18.22.2) leaves through B: the TUN equivalent of
/// [`BridgedPair`], with the kernel's IP stack between the ports.
struct RoutedTuns<B: SuiteBackend> {
    a: Option<B::Port>,
    b: Option<B::Port>,
    pool: Pool,
    fds_before: BTreeSet<i32>,
    // Dropped after the ports: the devices go first, then the namespace.
    _ns: NetnsGuard,
    _guards: [InterfaceGuard; 2],
    _lock: MutexGuard<'static, ()>,
}

impl<B: SuiteBackend> RoutedTuns<B> {
    fn new(
        link: Link,
        pool_cfg: PoolConfig,
        cfg_a: impl Fn(TapConfig) -> TapConfig,
        cfg_b: impl Fn(TapConfig) -> TapConfig,
    ) -> Self {
        let lock = serial();
        let fds_before = open_fds();
        let [a, b] = ["a", "b"].map(|s| super::unique_name(&format!("trr{s}")));
        let guards = [InterfaceGuard::new(&a), InterfaceGuard::new(&b)];
        let pool = Pool::new(pool_cfg).expect("test pool");
        let opts = SuiteOptions::default();
        let base = |name: &str| link.apply(TapConfig::named(name)).up(false);
        let pa = B::open(&cfg_a(base(&a)), &pool, &opts)
            .unwrap_or_else(|e| panic!("{}: open {a}: {e}", B::NAME));
        let pb = B::open(&cfg_b(base(&b)), &pool, &opts)
            .unwrap_or_else(|e| panic!("{}: open {b}: {e}", B::NAME));
        let ns = NetnsGuard::new();
        let nsn = ns.name().to_owned();
        for dev in [&a, &b] {
            assert!(quiet_ip(&["link", "set", "dev", dev, "netns", &nsn]));
        }
        sysctl_in_netns(
            &nsn,
            &[
                ("net/ipv4/ip_forward", "1"),
                ("net/ipv6/conf/all/forwarding", "1"),
                ("net/ipv4/conf/all/rp_filter", "0"),
                (&format!("net/ipv4/conf/{a}/rp_filter"), "0"),
            ],
        );
        for (dev, v4, v6) in [
            (&a, "198.18.21.1/24", "fd00:21::1/64"),
            (&b, "198.18.22.1/24", "fd00:22::1/64"),
        ] {
            assert!(quiet_ip(&["-n", &nsn, "addr", "add", v4, "dev", dev]));
            assert!(quiet_ip(&[
                "-n", &nsn, "-6", "addr", "add", v6, "dev", dev, "nodad"
            ]));
            assert!(quiet_ip(&["-n", &nsn, "link", "set", "dev", dev, "up"]));
        }
        RoutedTuns {
            a: Some(pa),
            b: Some(pb),
            pool,
            fds_before,
            _ns: ns,
            _guards: guards,
            _lock: lock,
        }
    }

    /// Tx queue 0 of port A and Rx queue 0 of port B.
    fn a_to_b(&mut self) -> (<B::Port as Port>::Tx, <B::Port as Port>::Rx) {
        let tx = self.a.as_mut().expect("open").take_tx(0).expect("take_tx");
        let rx = self.b.as_mut().expect("open").take_rx(0).expect("take_rx");
        (tx, rx)
    }

    fn finish(mut self) {
        drop((self.a.take(), self.b.take()));
        assert_eq!(
            self.pool.stats().in_use,
            0,
            "{}: every buffer back",
            B::NAME
        );
        assert_fds_closed(&self.fds_before, B::NAME);
    }
}

/// An [`l4_frame`] as the IP packet a TUN carries, from behind port A to
/// behind port B ([`ROUTED_V4`] / [`ROUTED_V6`]), IPv4 header checksum
/// recomputed.
fn routed_packet(flavour: Flavour, seq: u32, payload: usize) -> Vec<u8> {
    let mut p = l4_frame(flavour, seq, payload)[14..].to_vec();
    if p[0] >> 4 == 4 {
        p[12..16].copy_from_slice(&ROUTED_V4.0);
        p[16..20].copy_from_slice(&ROUTED_V4.1);
        p[10..12].fill(0);
        let c = inet_checksum(&[&p[..20]]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        p[8..24].copy_from_slice(&ROUTED_V6.0);
        p[24..40].copy_from_slice(&ROUTED_V6.1);
    }
    p
}

/// Whether `p` is one of ours (from behind port A), as routed to B.
fn is_routed(p: &[u8]) -> bool {
    match p.first().map(|b| b >> 4) {
        Some(4) => p.get(12..16) == Some(&ROUTED_V4.0[..]),
        Some(6) => p.get(8..24) == Some(&ROUTED_V6.0[..]),
        _ => false,
    }
}

/// `p` with what forwarding changes set to what it was sent with: TTL /
/// hop limit back to 64, and the IPv4 header checksum recomputed.
fn unrouted(p: &[u8]) -> Vec<u8> {
    let mut p = p.to_vec();
    if p[0] >> 4 == 4 {
        p[8] = 64;
        p[10..12].fill(0);
        let c = inet_checksum(&[&p[..20]]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        p[7] = 64;
    }
    p
}

/// A packet of `bytes` from `pool`; from 9001 bytes of payload on, a chain
/// of three segments (headers, then the payload in two parts).
fn maybe_chained(pool: &Pool, bytes: &[u8], hdr_len: usize) -> Pkt {
    if bytes.len() - hdr_len < 9001 {
        return pkt_of(pool, bytes);
    }
    let mid = hdr_len + (bytes.len() - hdr_len) / 2;
    let mut head = pkt_of(pool, &bytes[..hdr_len]);
    for part in [&bytes[hdr_len..mid], &bytes[mid..]] {
        head.chain(pkt_of(pool, part))
            .unwrap_or_else(|(e, _)| panic!("chain: {e}"));
    }
    head
}

/// TUN mirror of [`gso_frames_up_to_64k_cross_a_bridge`]: TCP/IPv4 and
/// TCP/IPv6 packets of 1 byte to about 64 KiB of payload, with checksum
/// and segmentation requests from `request_segmentation_framed(..,
/// Framing::Ip)` (the larger ones as chains), written on TUN port A; the
/// kernel routes them out of TUN port B, both with CSUM and TSO
/// negotiated, so they arrive whole (GSO packets up to 64 KiB) with the
/// same requests in their metadata, byte-identical but for what routing
/// changes (TTL / hop limit and the IPv4 header checksum).
fn tun_gso_routed<B: SuiteBackend>(link: Link) {
    if !require_tap() {
        return;
    }
    let offloads = Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6;
    let with_offloads = |c: TapConfig| c.vnet_hdr(VnetHdrLen::Mergeable).offloads(offloads);
    let mut pair = RoutedTuns::<B>::new(link, PoolConfig::large(256), with_offloads, with_offloads);
    let pool = pair.pool.clone();
    let (mut tx, mut rx) = pair.a_to_b();
    let sizes = [1usize, 1447, 1449, 2897, 9001, 16384, 40000, 60000];
    let mut sent = Vec::new();
    let mut pkts = Vec::new();
    for (i, &(flavour, mss)) in [(Flavour::Tcp4, 1448u16), (Flavour::Tcp6, 1428)]
        .iter()
        .enumerate()
    {
        for (j, &n) in sizes.iter().enumerate() {
            let bytes = routed_packet(flavour, (i * 100 + j) as u32, n);
            let hdr_len = tapring_core::wire::headers::parse_ip(&bytes)
                .expect("packet parses")
                .hdr_len();
            let mut p = maybe_chained(&pool, &bytes, hdr_len);
            tapring_core::wire::offload_request::request_segmentation_framed(
                &mut p,
                mss,
                Framing::Ip,
            )
            .unwrap_or_else(|e| panic!("{flavour:?} {n}: {e}"));
            sent.push((bytes_of(&p), p.offload()));
            pkts.push(p);
        }
    }
    send_all(&mut tx, pkts);
    drain_tx(&mut tx);
    assert_eq!(tx.stats().drops.total(), 0, "{}: {:?}", B::NAME, tx.stats());
    let recv = receive(&mut rx, sent.len(), |p| is_routed(p.data()));
    let got: Vec<(Vec<u8>, Offload)> = recv
        .kept
        .iter()
        .map(|p| (unrouted(&bytes_of(p)), p.offload()))
        .collect();
    let lens: Vec<usize> = got.iter().map(|(b, _)| b.len()).collect();
    let want: Vec<usize> = sent.iter().map(|(b, _)| b.len()).collect();
    assert_eq!(lens, want, "{} {link:?}: packets routed whole", B::NAME);
    for ((g, goff), (s, soff)) in got.iter().zip(&sent) {
        assert!(
            g == s,
            "{} {link:?}: a {}-byte packet's bytes",
            B::NAME,
            s.len()
        );
        assert_eq!(
            goff.csum,
            soff.csum,
            "{} {link:?}: {} bytes",
            B::NAME,
            s.len()
        );
        assert_eq!(
            goff.gso.map(|g| (g.kind, g.size)),
            soff.gso.map(|g| (g.kind, g.size)),
            "{} {link:?}: {} bytes",
            B::NAME,
            s.len()
        );
    }
    let rs = rx.stats();
    assert_eq!(rs.drops.total(), 0, "{}: {rs:?}", B::NAME);
    assert!(
        rs.xstats.gso >= sent.iter().filter(|(_, o)| o.gso.is_some()).count() as u64,
        "{}: GSO packets counted: {rs:?}",
        B::NAME
    );
    drop(recv);
    drop((rx, tx, pool));
    pair.finish();
}

/// GSO packets up to 64 KiB routed whole between two TUN ports.
pub fn tun_gso_packets_up_to_64k_are_routed_whole<B: SuiteBackend>() {
    tun_gso_routed::<B>(Link::TUN);
}

/// The same with packet information on both ports.
pub fn tun_pi_gso_packets_up_to_64k_are_routed_whole<B: SuiteBackend>() {
    tun_gso_routed::<B>(Link::TUN_PI);
}

/// TUN mirror of [`kernel_finishes_what_the_headers_helper_asked`]:
/// packets whose requests come from `request_segmentation_framed(..,
/// Framing::Ip)`, written on TUN port A (CSUM + TSO, and USO where the
/// kernel has it), are routed out of TUN port B, which negotiated no
/// offloads: the kernel segments them and finishes every checksum in
/// software. Every segment read on B must carry a valid L4 checksum, and
/// the segments' payloads must add up to the original payload.
fn tun_helper_routed<B: SuiteBackend>(link: Link) {
    if !require_tap() {
        return;
    }
    let uso = Offloads::USO4 | Offloads::USO6;
    let has_uso = tapring_device::probe()
        .accepted_offloads
        .is_some_and(|o| o.contains(uso));
    let mut offloads = Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6;
    if has_uso {
        offloads |= uso;
    }
    let mut pair = RoutedTuns::<B>::new(
        link,
        PoolConfig::large(256),
        |c| c.vnet_hdr(VnetHdrLen::Mergeable).offloads(offloads),
        |c| c,
    );
    let pool = pair.pool.clone();
    let (mut tx, mut rx) = pair.a_to_b();
    let mut cases = vec![
        (Flavour::Tcp4, 20_000usize, 1448u16),
        (Flavour::Tcp6, 9_000, 1428),
        (Flavour::Tcp4, 1_000, 1448),
    ];
    if has_uso {
        cases.push((Flavour::Udp4, 4_000, 1400));
    }
    let mut expected = 0;
    let mut pkts = Vec::new();
    let mut built = Vec::new();
    for (i, &(flavour, payload, mss)) in cases.iter().enumerate() {
        let bytes = routed_packet(flavour, i as u32, payload);
        let mut p = pkt_of(&pool, &bytes);
        let h = tapring_core::wire::offload_request::request_segmentation_framed(
            &mut p,
            mss,
            Framing::Ip,
        )
        .unwrap_or_else(|e| panic!("{flavour:?}: {e}"));
        assert_eq!(h.l3_offset(), 0);
        expected += payload.div_ceil(usize::from(mss));
        built.push((bytes, h));
        pkts.push(p);
    }
    send_all(&mut tx, pkts);
    drain_tx(&mut tx);
    assert_eq!(tx.stats().drops.total(), 0, "{}: {:?}", B::NAME, tx.stats());
    let recv = receive(&mut rx, expected, |p| is_routed(p.data()));
    assert_eq!(
        recv.kept.len(),
        expected,
        "{} {link:?}: segments of {cases:?}",
        B::NAME
    );
    let mut payloads: Vec<Vec<u8>> = vec![Vec::new(); cases.len()];
    for p in &recv.kept {
        let seg = bytes_of(p);
        assert!(
            seg.len() <= 1500,
            "{}: a {}-byte segment",
            B::NAME,
            seg.len()
        );
        let h = tapring_core::wire::headers::parse_ip(&seg).expect("segment parses");
        let (addrs, proto) = match h.ip() {
            tapring_core::IpVersion::V4 => (&seg[12..20], seg[9]),
            tapring_core::IpVersion::V6 => (&seg[8..40], seg[6]),
        };
        let l4 = h.l4_offset();
        let len = (seg.len() - l4) as u32;
        assert_eq!(
            inet_checksum(&[addrs, &[0, proto], &len.to_be_bytes(), &seg[l4..]]),
            0,
            "{} {link:?}: a segment with a bad L4 checksum: {:02x?}",
            B::NAME,
            &seg[..seg.len().min(80)]
        );
        let data = &seg[h.hdr_len()..];
        let case = built
            .iter()
            .enumerate()
            .position(|(i, (want, wh))| {
                wh.ip() == h.ip()
                    && wh.l4() == h.l4()
                    && want[wh.hdr_len() + payloads[i].len()..].starts_with(data)
            })
            .unwrap_or_else(|| panic!("{}: a segment matching no packet", B::NAME));
        payloads[case].extend_from_slice(data);
    }
    for ((fl, payload, _), ((want, h), got)) in cases.iter().zip(built.iter().zip(&payloads)) {
        assert!(
            got[..] == want[h.hdr_len()..],
            "{} {link:?}: {fl:?} payload of {payload} bytes reassembled",
            B::NAME
        );
    }
    drop(recv);
    drop((rx, tx, pool));
    pair.finish();
}

/// The kernel finishes what the helper asked, routed between TUN ports.
pub fn tun_kernel_finishes_what_the_headers_helper_asked<B: SuiteBackend>() {
    tun_helper_routed::<B>(Link::TUN);
}

/// The same with packet information on both ports.
pub fn tun_pi_kernel_finishes_what_the_headers_helper_asked<B: SuiteBackend>() {
    tun_helper_routed::<B>(Link::TUN_PI);
}
