#!/usr/bin/env bash
# Runs the examples against the kernel, in private network namespaces:
# the responder (TAP) and the tokio TUN echo answer a kernel ping, and the
# two-port forwarders (threads, tokio) carry a ping between two namespaces. Everything it makes is removed on exit.
# The pings are `tapring ping` (the harness's ICMP client), so this needs
# no ping binary.
set -euo pipefail
cd "$(dirname "$0")/.."
ex=target/release/examples
cargo build --release -q -p tapring-harness
tapring=target/release/tapring
ns="tapring-ex-$$"
cleanup() {
  for n in "$ns" "$ns-a" "$ns-b"; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT

echo "responder: a kernel ping to a host that lives in user space"
ip netns add "$ns"
ip netns exec "$ns" "$ex/responder" trex0 198.18.0.2 8 &
resp=$!
for _ in $(seq 50); do ip netns exec "$ns" ip link show trex0 >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec "$ns" ip addr add 198.18.0.1/24 dev trex0
"$tapring" ping --netns "$ns" -c 3 -i 0.2 -W 2 198.18.0.2
wait "$resp"

# A two-port forwarder example joins two namespaces: a ping crosses it.
forwarder() {
  local example=$1
  echo "$example: two namespaces joined by examples/$example.rs"
  ip netns add "$ns" 2>/dev/null || true
  ip netns add "$ns-a"
  ip netns add "$ns-b"
  ip netns exec "$ns" "$ex/$example" trfa0 trfb0 6 &
  local fwd=$!
  for _ in $(seq 50); do ip netns exec "$ns" ip link show trfb0 >/dev/null 2>&1 && break; sleep 0.1; done
  ip -n "$ns" link set trfa0 netns "$ns-a"
  ip -n "$ns" link set trfb0 netns "$ns-b"
  ip -n "$ns-a" addr add 198.18.1.1/24 dev trfa0
  ip -n "$ns-b" addr add 198.18.1.2/24 dev trfb0
  ip -n "$ns-a" link set trfa0 up
  ip -n "$ns-b" link set trfb0 up
  "$tapring" ping --netns "$ns-a" -c 3 -i 0.2 -W 2 198.18.1.2
  wait "$fwd"
  ip netns del "$ns-a"
  ip netns del "$ns-b"
}
forwarder forward
forwarder tokio_forward

echo "tokio_tun_echo: a kernel ping answered on a TUN device by a tokio task"
ip netns add "$ns" 2>/dev/null || true
ip netns exec "$ns" "$ex/tokio_tun_echo" trtun0 &
echo_pid=$!
for _ in $(seq 50); do ip netns exec "$ns" ip link show trtun0 >/dev/null 2>&1 && break; sleep 0.1; done
ip -n "$ns" addr add 198.18.2.1/24 dev trtun0
"$tapring" ping --netns "$ns" -c 3 -i 0.2 -W 2 198.18.2.2
kill "$echo_pid"
wait "$echo_pid" || true  # it runs until killed

echo "examples ok"
