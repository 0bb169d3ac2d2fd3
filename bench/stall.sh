#!/usr/bin/env bash
# bench/stall.sh - a client that stops reading: the agent must stay flat in memory and count
# every packet it could not deliver.
#
#   bash bench/stall.sh [SECONDS] [PPS] [BUFFER_MIB]   (defaults 60, 50000 and the agent's
#                                                      default buffer; 60-byte UDP frames)
#
# Two netns (bsA -> bsB over a veth, 10.202.0.0/24, made unreachable in the root netns first),
# netcap-agent (direct mode, TLS) capturing bsB's veth as pod bench/rx, and a client that sends the
# capture request, reads the response headers and then nothing more. trafgen sends at PPS for
# SECONDS; the agent's RSS is sampled every 5 s. At the end the client reads whatever is left and
# closes; the agent's audit line and the veth counters are compared:
#   frames that arrived at the veth = the agent's received (pcap) = sent + dropped (+ kernel drops)
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${NETCAP_BUILD_DIR:-$HERE/../build}
AGENT=$BUILD/agent/netcap-agent
SECS=${1:-60}
PPS=${2:-50000}
BUFFER_MIB=${3:-}
D=$(mktemp -d /tmp/bench-stall.XXXXXX)
NS_A=bsA; NS_B=bsB; IP_A=10.202.0.1; IP_B=10.202.0.2; NET=10.202.0.0/24
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  ip netns del "$NS_A" 2>/dev/null; ip netns del "$NS_B" 2>/dev/null
  ip route del unreachable "$NET" 2>/dev/null
  rm -rf "$D"
}
trap cleanup EXIT
[ -x "$AGENT" ] || { echo "stall.sh: $AGENT missing: make build" >&2; exit 2; }
command -v trafgen >/dev/null || { apt-get update -qq && apt-get install -y -qq netsniff-ng >/dev/null; }

ip route replace unreachable "$NET"
ip netns del "$NS_A" 2>/dev/null; ip netns del "$NS_B" 2>/dev/null
ip netns add "$NS_A"; ip netns add "$NS_B"
ip link add bsvA netns "$NS_A" type veth peer name bsvB netns "$NS_B"
for n in "$NS_A" "$NS_B"; do
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$n" link set lo up
done
ip -n "$NS_A" addr add "$IP_A/24" dev bsvA; ip -n "$NS_B" addr add "$IP_B/24" dev bsvB
ip -n "$NS_A" link set bsvA up; ip -n "$NS_B" link set bsvB up
MAC_A=$(ip -n "$NS_A" -o link show bsvA | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
MAC_B=$(ip -n "$NS_B" -o link show bsvB | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
ip netns exec "$NS_B" iptables -A OUTPUT -p icmp --icmp-type port-unreachable -j DROP
echo "{ eth(da=$MAC_B, sa=$MAC_A), ipv4(saddr=$IP_A, daddr=$IP_B, ttl=64), udp(sp=4000, dp=9), fill(0x41, 18) }" > "$D/udp60.cfg"

ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 -new "${ec[@]}" -keyout "$D/ca.key" -out "$D/ca.crt" -days 1 -subj "/CN=stall CA" \
  -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -new "${ec[@]}" -keyout "$D/server.key" -out "$D/server.csr" -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$D/ext"
openssl x509 -req -in "$D/server.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial \
  -out "$D/server.crt" -days 1 -extfile "$D/ext" 2>/dev/null
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$TOKEN,bench,1" > "$D/tokens.csv"
cat > "$D/pods.json" <<EOF
{"apiVersion":"v1","kind":"PodList","items":[{"apiVersion":"v1","kind":"Pod",
 "metadata":{"name":"rx","namespace":"bench","uid":"6e6f6e65-0000-4000-8000-000000000002"},
 "spec":{"nodeName":"bench","containers":[{"name":"rx"}]},
 "status":{"phase":"Running","podIP":"$IP_B","podIPs":[{"ip":"$IP_B"}]}}]}
EOF
PORT=$(( 20000 + RANDOM % 20000 ))
"$AGENT" --listen "127.0.0.1:$PORT" --tls-cert "$D/server.crt" --tls-key "$D/server.key" \
  --token-auth-file "$D/tokens.csv" --pods-file "$D/pods.json" --node-name bench > "$D/agent.log" 2>&1 &
APID=$!; PIDS+=("$APID")
for i in $(seq 1 100); do curl -s --cacert "$D/ca.crt" "https://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.05; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$APID/status"; }
RSS0=$(rss)

# the stalled client: request, headers, then it reads nothing until told (SIGUSR1), then drains
/usr/bin/python3 - "$PORT" "$D/ca.crt" "$TOKEN" "$BUFFER_MIB" > "$D/client.out" <<'EOF' &
import json, signal, socket, ssl, sys, time
port, ca, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
go = []
signal.signal(signal.SIGUSR1, lambda *a: go.append(1))
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
req = {"targets": [{"namespace": "bench", "pod": "rx", "interface": "bsvB"}]}
if sys.argv[4]:
    req["bufferMiB"] = int(sys.argv[4])
body = json.dumps(req).encode()
s.sendall(b"POST /v1/captures HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + token.encode()
          + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
print(s.recv(200).split(b"\r\n")[0].decode(), flush=True)
while not go:
    time.sleep(0.1)
# drain until a 2-second window brings no more than statistics blocks (one ISB a second)
s.settimeout(0.5)
n = 0
while True:
    window, end = 0, time.time() + 2
    while time.time() < end:
        try:
            d = s.recv(1 << 16)
        except socket.timeout:
            continue
        if not d:
            break
        window += len(d)
    n += window
    if window < 4096:
        break
print("drained", n, flush=True)
EOF
CPID=$!; PIDS+=("$CPID")
sleep 1
ip -n "$NS_B" -s link show bsvB | awk '/RX:/ {getline; print $2}' > "$D/rx0"
# frames the kernel's input queues drop before any socket sees them (softnet_stat, 2nd column)
softnet_drops() { local t=0 v; while read -r _ v _; do t=$(( t + 16#$v )); done < /proc/net/softnet_stat; echo $t; }
SN0=$(softnet_drops)
ip netns exec "$NS_A" trafgen -o bsvA -i "$D/udp60.cfg" -n $(( SECS * PPS )) -b "${PPS}pps" -P 1 \
  --no-sock-mem --notouch-irq > "$D/trafgen.out" 2>&1 &
TPID=$!; PIDS+=("$TPID")
echo "| t (s) | agent RSS (KiB) |"
echo "|---|---|"
echo "| 0 | $RSS0 |"
MAX=$RSS0
for t in $(seq 5 5 "$SECS"); do
  sleep 5
  r=$(rss); [ "$r" -gt "$MAX" ] && MAX=$r
  echo "| $t | $r |"
done
wait "$TPID"
sleep 2
RX=$(( $(ip -n "$NS_B" -s link show bsvB | awk '/RX:/ {getline; print $2}') - $(cat "$D/rx0") ))
kill -USR1 "$CPID"; wait "$CPID"
sleep 1.5
kill -TERM "$APID"; wait "$APID"
AUDIT=$(grep 'netcap-agent: capture 1 ' "$D/agent.log" | tail -1)
echo
echo "client: $(head -1 "$D/client.out"); $(tail -1 "$D/client.out") bytes after the stall"
echo "frames that arrived at bsvB: $RX"
echo "agent audit: ${AUDIT#*: }"
SENT=$(echo "$AUDIT" | grep -o 'sent [0-9]* packets' | awk '{print $2}')
DROP=$(echo "$AUDIT" | grep -o 'dropped [0-9]* (kernel [0-9]*)' | tr -d '()' | awk '{print $2, $4}')
set -- $DROP
SN=$(( $(softnet_drops) - SN0 ))
echo "peak RSS $MAX KiB (start $RSS0 KiB); sent $SENT + dropped ${1:-?} + kernel ${2:-?} = $(( SENT + ${1:-0} + ${2:-0} )) vs arrived $RX (input-queue drops before any socket: $SN)"
