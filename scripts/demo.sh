#!/usr/bin/env bash
# demo.sh - watch a Kubernetes pod's traffic live in tshark, with pod identity on every packet.
#
# Run as root after `make deps build` (`make demo` does all three). Builds a throw-away lab
# (scripts/lab.py: network namespaces as the pods shop/frontend and shop/backend on node1, a CA,
# a token, a PodList), starts netcap-agent on loopback, makes frontend talk to backend, and runs
# tshark as an unprivileged user with netcap's extcap and dissector plugin. Everything is torn
# down on exit, also on ^C or failure. Nothing leaves the machine: the lab's range 10.231.0.0/16
# is unreachable outside its namespaces.
#
# NETCAP_BUILD_DIR  CMake build dir (default: <repo>/build)
# DEMO_PACKETS      packets to show (default 20)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export NETCAP_BUILD_DIR=${NETCAP_BUILD_DIR:-$repo/build}
packets=${DEMO_PACKETS:-20}
python=${PYTHON:-/usr/bin/python3}
[[ -x $python ]] || python=python3
lab() { "$python" "$repo/scripts/lab.py" "$@"; }

if [[ $(id -u) -ne 0 ]]; then
  echo "demo.sh: run as root (the lab creates network namespaces)" >&2
  exit 1
fi
for f in agent/netcap-agent extcap/netcap-extcap dissector/netcap.so; do
  if [[ ! -e $NETCAP_BUILD_DIR/$f ]]; then
    echo "demo.sh: $NETCAP_BUILD_DIR/$f is missing; run 'make build' first (or 'make demo')" >&2
    exit 1
  fi
done

dir=$(mktemp -d /tmp/netcap-demo.XXXXXX)
traffic_pid=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $traffic_pid ]]; then
    kill "$traffic_pid" 2>/dev/null || true
    wait "$traffic_pid" 2>/dev/null || true
  fi
  lab down --dir "$dir" || true
  rm -rf "$dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== Setting up a one-node lab in $dir"
lab up --dir "$dir" --owner-pid $$ --temporary --agent --ws

echo "== Background traffic: shop/frontend (10.231.0.10) pings and GETs shop/backend (10.231.0.11:8080)"
(
  while true; do
    lab exec --dir "$dir" frontend -- ping -n -q -c 2 -i 0.3 10.231.0.11 >/dev/null 2>&1 || true
    lab exec --dir "$dir" frontend -- curl -s --noproxy '*' -o /dev/null --max-time 5 \
      http://10.231.0.11:8080/ >/dev/null 2>&1 || true
    sleep 0.3
  done
) &
traffic_pid=$!

cat <<EOF

== Capturing $packets packets of pod shop/frontend with tshark
   tshark runs as uid 65534 (Wireshark ignores personal plugins for root) and finds
   netcap-extcap in ~/.config/wireshark/extcap and netcap.so in ~/.local/lib/wireshark/plugins.
   The extcap asks netcap-agent (https on 127.0.0.1) for the pod's eth0; the agent enters the
   pod's network namespace, captures with libpcap and streams pcapng whose interface block
   names the pod; the plugin turns that into k8s.* fields. Columns below: frame, namespace,
   pod, direction (in/out of the pod), source, destination, the pod on the other end, summary.

EOF
# "Dir" is a custom column, so it shows netcap.direction's name (Inbound/Outbound), not its number.
timeout --foreground 60 "$python" "$repo/scripts/lab.py" tshark --dir "$dir" \
  --env NETCAP_NAMESPACE=shop --env NETCAP_POD=frontend -- \
  -i netcap-extcap -c "$packets" --log-level warning \
  -o 'gui.column.format:"No.","%m","Dir","%Cus:netcap.direction:0:R","Info","%i"' \
  -T fields -E header=y -E separator=/t -E occurrence=f \
  -e frame.number -e k8s.namespace -e k8s.pod -e _ws.col.Dir \
  -e ip.src -e ip.dst -e k8s.peer.pod -e _ws.col.Info

cat <<EOF

== Try it yourself: the same capture in Wireshark or tshark with
   -o extcap.netcap_extcap.maxpackets:N, a capture filter (-f 'tcp port 8080'), or a display
   filter such as  k8s.pod == "frontend" && k8s.peer.pod == "backend".
== Tearing the lab down.
EOF
