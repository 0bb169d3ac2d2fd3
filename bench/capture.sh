#!/usr/bin/env bash
# bench/capture.sh - netcap side by side with tcpdump and sshdump, in ONE run of the shared harness.
#
#   bash bench/capture.sh [--quick] [anchor options...]      (make bench; BENCH_QUICK=1 for --quick)
#
# 1. The dumpcap fifo ceiling: a saved pcapng of N frames (60 B and 1514 B) pushed through a fifo
#    into `dumpcap -i FIFO -w FILE`, as Wireshark reads every extcap; frames per second = N / time.
# 2. ../shared/bench/anchor-capture.sh (two netns, a veth, trafgen at fixed rates) with the capturer
#    plug-in "netcap" defined here, listed after its references: --capturers "tcpdump sshdump netcap".
#    netcap = netcap-agent (direct mode, TLS, capturing bvB in bnB as pod bench/rx) -> HTTPS ->
#    netcap-extcap --capture --fifo FIFO -> dumpcap -i FIFO -w OUT.pcapng, exactly Wireshark's chain.
#    CPU counted: agent + extcap; dumpcap (the fifo reader) reported apart, as for sshdump.
#    NC_BUFFER_MIB (default 64, as the references' tcpdump -B 65536): the agent's kernel ring.
#    NETCAP_PERF=DIR: also profile the agent and the extcap with perf (DIR/<run>/*.perf.txt) and
#    count every thread's context switches (DIR/<run>/ctxt.txt).
#    NETCAP_EXTCAP_WRAP="valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p" (and
#    NETCAP_AGENT_WRAP): run the extcap (the agent) under a wrapper, e.g. to count instructions
#    per packet; the run's CPU and delivery numbers are then the wrapper's, not netcap's.
#
# Needs root, a build (NETCAP_BUILD_DIR, default ./build) and ../shared beside the repository.
# Everything is started by PID and stopped by PID; the harness removes its namespaces on exit.
set -u -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
ANCHOR=${ANCHOR:-$REPO/../shared/bench/anchor-capture.sh}
BUILD=${NETCAP_BUILD_DIR:-$REPO/build}
AGENT_BIN=$BUILD/agent/netcap-agent
EXTCAP_BIN=$BUILD/extcap/netcap-extcap
NC_DIR=/tmp/bench-netcap
# The agent's kernel ring for the captured pod (--buffer-size, MiB): the references capture with
# tcpdump -B 65536, so netcap gets the same 64 MiB unless told otherwise.
NC_BUFFER_MIB=${NC_BUFFER_MIB:-64}
CEILING_FRAMES_60=${CEILING_FRAMES_60:-1000000}     # about 90 MB of pcapng
CEILING_FRAMES_1514=${CEILING_FRAMES_1514:-200000}  # about 310 MB

[ -f "$ANCHOR" ] || { echo "bench/capture.sh: $ANCHOR not found (../shared beside the repo)" >&2; exit 2; }
for b in "$AGENT_BIN" "$EXTCAP_BIN"; do
  [ -x "$b" ] || { echo "bench/capture.sh: $b missing: run make build (or set NETCAP_BUILD_DIR)" >&2; exit 2; }
done

if [ -n "${NETCAP_PERF:-}" ] && ! command -v perf >/dev/null; then
  echo "bench/capture.sh: NETCAP_PERF needs perf (apt-get install linux-perf)" >&2; exit 2
fi

# ------------------------------------------------------------------ 1. the dumpcap fifo ceiling
ceiling() {  # frame-size -> "frames seconds pps"
  local size=$1 f=$NC_DIR/ceiling-$1.pcapng fifo=$NC_DIR/ceiling.fifo
  local frames=$CEILING_FRAMES_60
  [ "$size" = 1514 ] && frames=$CEILING_FRAMES_1514
  [ -s "$f" ] || /usr/bin/python3 - "$f" "$size" "$frames" <<'EOF'
import struct, sys
path, size, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def block(t, body):
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", t, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
frame = bytes.fromhex("020000000002020000000001080045000000000000004011000000000a0100010a010002")
frame = (frame + b"\x0f\xa0\x00\x09" + b"\0" * 4).ljust(size, b"A")
with open(path, "wb") as f:
    f.write(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + b"\0\0\0\0"))
    f.write(block(1, struct.pack("<HHI", 1, 0, 262144) + b"\0\0\0\0"))
    epb = struct.pack("<IIIII", 0, 0, 0, size, size) + frame
    one = block(6, epb)
    f.write(one * n)
EOF
  rm -f "$fifo"; mkfifo "$fifo"
  dumpcap -q -i "$fifo" -w "$NC_DIR/ceiling-out.pcapng" 2> "$NC_DIR/ceiling.err" &
  local dc=$! t0 t1
  sleep 0.3
  t0=$EPOCHREALTIME
  cat "$f" > "$fifo"
  wait "$dc"
  t1=$EPOCHREALTIME
  local got; got=$(awk -F': ' '/Packets captured/ {print $2}' "$NC_DIR/ceiling.err")
  rm -f "$NC_DIR/ceiling-out.pcapng" "$fifo" "$f"
  awk -v n="$got" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d %.3f %d\n", n, b - a, n / (b - a) }'
}

# ------------------------------------------------------------- 2. the netcap capturer plug-in
NC_AGENT_PID=""; NC_EXT_PID=""; NC_DC_PID=""; NC_PORT=""
nc_setup_once() {
  [ -s "$NC_DIR/server.crt" ] && return 0
  mkdir -p "$NC_DIR"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 -new "${ec[@]}" -keyout "$NC_DIR/ca.key" -out "$NC_DIR/ca.crt" -days 2 \
    -subj "/CN=netcap bench CA" -addext basicConstraints=critical,CA:TRUE 2>/dev/null
  openssl req -new "${ec[@]}" -keyout "$NC_DIR/server.key" -out "$NC_DIR/server.csr" -subj /CN=127.0.0.1 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$NC_DIR/server.ext"
  openssl x509 -req -in "$NC_DIR/server.csr" -CA "$NC_DIR/ca.crt" -CAkey "$NC_DIR/ca.key" \
    -CAcreateserial -out "$NC_DIR/server.crt" -days 2 -extfile "$NC_DIR/server.ext" 2>/dev/null
  local tok; tok=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$tok,bench,1" > "$NC_DIR/tokens.csv"; echo "$tok" > "$NC_DIR/token"
  chmod 600 "$NC_DIR/tokens.csv" "$NC_DIR/token" "$NC_DIR/server.key" "$NC_DIR/ca.key"
  cat > "$NC_DIR/pods.json" <<EOF
{"apiVersion":"v1","kind":"PodList","items":[{"apiVersion":"v1","kind":"Pod",
 "metadata":{"name":"rx","namespace":"bench","uid":"6e6f6e65-0000-4000-8000-000000000001",
             "labels":{"app":"rx"}},
 "spec":{"nodeName":"bench","containers":[{"name":"rx"}]},
 "status":{"phase":"Running","podIP":"$IP_B","podIPs":[{"ip":"$IP_B"}]}}]}
EOF
}

# Context switches of every thread of the agent and the extcap (perf mode): "label pid/tid name vol invol"
nc_ctxt() {
  local pid t
  for pid in "$NC_AGENT_PID" "$NC_EXT_PID"; do
    for t in /proc/"$pid"/task/*; do
      awk -v l="$1" -v id="$pid/${t##*/}" '/^Name:/ {n=$2} /^voluntary_ctxt/ {v=$2}
        /^nonvoluntary_ctxt/ {print l, id, n, v, $2}' "$t/status" 2>/dev/null
    done
  done
}
cap_netcap_desc="netcap-agent (direct mode, TLS) in the root netns capturing bvB as pod bench/rx -> netcap-extcap --capture --fifo FIFO --buffer-size $NC_BUFFER_MIB -> dumpcap -q -i FIFO -w OUT.pcapng"
cap_netcap_start() {
  local dir=$1 out=$1/out.pcapng
  nc_setup_once
  NC_PORT=$(( 20000 + RANDOM % 20000 ))
  # shellcheck disable=SC2086 # NETCAP_AGENT_WRAP is a command line, split on purpose
  ${NETCAP_AGENT_WRAP:-} "$AGENT_BIN" --listen "127.0.0.1:$NC_PORT" --tls-cert "$NC_DIR/server.crt" --tls-key "$NC_DIR/server.key" \
    --token-auth-file "$NC_DIR/tokens.csv" --pods-file "$NC_DIR/pods.json" --node-name bench \
    > "$dir/agent.log" 2>&1 &
  NC_AGENT_PID=$!; track "$NC_AGENT_PID"
  local i
  for i in $(seq 1 100); do
    curl -s --cacert "$NC_DIR/ca.crt" "https://127.0.0.1:$NC_PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.05
  done
  mkfifo "$dir/fifo"
  dumpcap -q -i "$dir/fifo" -w "$out" 2> "$dir/dumpcap.err" &
  NC_DC_PID=$!; track "$NC_DC_PID"
  ip netns exec "$NS_A" ping -q -i 0.01 "$IP_B" > "$dir/ping.out" 2>&1 &
  local ping_pid=$!; track "$ping_pid"
  sleep 0.2
  local t0; t0=$(now_us)
  # shellcheck disable=SC2086 # NETCAP_EXTCAP_WRAP is a command line, split on purpose
  ${NETCAP_EXTCAP_WRAP:-} "$EXTCAP_BIN" --capture --extcap-interface netcap-extcap --fifo "$dir/fifo" \
    --agent-url "https://127.0.0.1:$NC_PORT" --ca-file "$NC_DIR/ca.crt" --token-file "$NC_DIR/token" \
    --namespace bench --pod rx --interface "$VETH_B" --buffer-size "$NC_BUFFER_MIB" \
    > "$dir/extcap.log" 2>&1 &
  NC_EXT_PID=$!; track "$NC_EXT_PID"
  # the extcap writes only to the fifo: its first write is the headers (SHB, IDB, names), the next
  # one holds the first packet; "first" is when dumpcap's file has a packet
  local deadline=$(( t0 + TTFP_MAX_S * 1000000 )) t w w0="" hdr="" fifo="" first="" size last=0 n
  while :; do
    t=$(now_us)
    [ "$t" -gt "$deadline" ] && break
    pid_running "$NC_EXT_PID" || break
    w=$(io_field "$NC_EXT_PID" wchar)
    [ -z "$hdr" ] && [ "$w" -gt 0 ] && { hdr=$t; w0=$w; }
    [ -z "$fifo" ] && [ -n "$w0" ] && [ "$w" -gt "$w0" ] && fifo=$t
    if [ -n "$fifo" ]; then
      size=$(stat -c %s "$out" 2>/dev/null || echo 0)
      if [ "$size" != "$last" ]; then
        n=$(capinfos -c -M "$out" 2>/dev/null | awk '/Number of packets/ {print $NF}')
        if [ "${n:-0}" -ge 1 ]; then first=$t; break; fi
        last=$size
      fi
    fi
    sleep 0.002
  done
  stop_child "$ping_pid" INT
  [ -n "$first" ] || { log "netcap produced no packet"; cat "$dir/extcap.log" "$dir/agent.log" >&2; return 1; }
  CAP_SESSION_MS=$(( (hdr - t0) / 1000 ))
  CAP_FIFO_MS=$(( (fifo - t0) / 1000 ))
  CAP_TTFP_MS=$(( (first - t0) / 1000 ))
  CAP_CPU_PIDS="netcap-agent=$NC_AGENT_PID netcap-extcap=$NC_EXT_PID"
  CAP_AUX_PIDS="dumpcap=$NC_DC_PID"
  if [ -n "${NETCAP_PERF:-}" ]; then   # profile the chain: NETCAP_PERF=DIR bash bench/capture.sh ...
    NC_PERF_OUT=$NETCAP_PERF/$(basename "$dir"); mkdir -p "$NC_PERF_OUT"
    perf record -q -F 1999 -g -o "$NC_PERF_OUT/agent.perf" -p "$NC_AGENT_PID" > /dev/null 2>&1 &
    NC_PERF_PIDS="$!"
    perf record -q -F 1999 -g -o "$NC_PERF_OUT/extcap.perf" -p "$NC_EXT_PID" > /dev/null 2>&1 &
    NC_PERF_PIDS="$NC_PERF_PIDS $!"
    nc_ctxt start >> "$NC_PERF_OUT/ctxt.txt"
  fi
  sleep 0.1
}
# Bytes moved, in 64 KiB steps: the agent's statistics blocks (100 B per second) must not look
# like packets still draining.
cap_netcap_progress() { echo $(( ($(io_field "$NC_DC_PID" rchar) + $(io_field "$NC_EXT_PID" rchar)) / 65536 )); }
cap_netcap_stop() {
  local dir=$1 arrived=$2
  # as Wireshark stops an extcap: SIGTERM; it ends its stream and closes the fifo; dumpcap ends
  if [ -n "${NC_PERF_PIDS:-}" ]; then
    nc_ctxt stop >> "$NC_PERF_OUT/ctxt.txt"
    local p; for p in $NC_PERF_PIDS; do kill -INT "$p" 2>/dev/null; done
    for p in $NC_PERF_PIDS; do wait "$p" 2>/dev/null; done
    for p in agent extcap; do
      perf report -i "$NC_PERF_OUT/$p.perf" --stdio --no-children --percent-limit 0.5 -g none \
        > "$NC_PERF_OUT/$p.perf.txt" 2>/dev/null
      log "perf profile of netcap-$p: $NC_PERF_OUT/$p.perf.txt"
    done
    NC_PERF_PIDS=""
  fi
  kill -TERM "$NC_EXT_PID" 2>/dev/null
  wait_pid "$NC_EXT_PID" 20 || { log "netcap-extcap did not exit, KILL"; stop_child "$NC_EXT_PID" KILL; }
  wait_pid "$NC_DC_PID" 20 || { log "dumpcap did not exit, TERM"; stop_child "$NC_DC_PID" TERM; }
  stop_child "$NC_AGENT_PID" TERM
  local total nonbench dc audit
  dc=$(awk -F': ' '/Packets captured/ {print $2}' "$dir/dumpcap.err")
  total=$(capinfos -c -M "$dir/out.pcapng" 2>/dev/null | awk '/Number of packets/ {print $NF}')
  nonbench=$(tcpdump -r "$dir/out.pcapng" -nn "not (udp and dst port $UDP_DPORT)" 2>/dev/null | wc -l)
  rm -f "$dir/out.pcapng"
  CAP_CAPTURED=$(( ${total:-0} - nonbench ))
  # the agent's audit line: "... sent N packets, B bytes, dropped D (kernel K); ..."
  audit=$(grep -o 'dropped [0-9]* (kernel [0-9]*)' "$dir/agent.log" | tail -1)
  CAP_KDROP=$(echo "$audit" | awk '{gsub(/[()]/, ""); print $2 + $4}')
  CAP_NOTE="delivered_total=${total:-0};pings=$nonbench;dumpcap=${dc};agent=${audit// /_}"
  NC_AGENT_PID=""; NC_EXT_PID=""; NC_DC_PID=""
}

# ------------------------------------------------------------------------------- the run
mkdir -p "$NC_DIR"
{
  echo "## dumpcap fifo ceiling (a saved pcapng pushed through a fifo into dumpcap -w FILE)"
  echo
  echo "| frame | frames | seconds | frames/s |"
  echo "|---|---|---|---|"
  for s in 60 1514; do
    read -r n secs pps < <(ceiling "$s")
    echo "| $s B | $n | $secs | $pps |"
  done
  echo
} 
args=("$@")
have_caps=0
for a in "$@"; do [ "$a" = --capturers ] && have_caps=1; done
[ "$have_caps" = 1 ] || args+=(--capturers "tcpdump sshdump netcap")
# shellcheck source=/dev/null
source "$ANCHOR" "${args[@]}"
