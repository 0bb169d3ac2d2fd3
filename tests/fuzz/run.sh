#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang-14 (ASan + UBSan) and run each for a while.
#   tests/fuzz/run.sh [SECONDS] [WORKDIR]     (make test: 10 s each; make fuzz: 300 s each)
# Seeds come from tests/fuzz/corpus/<harness>/; crashes are saved to WORKDIR and fail the run.
# A crashing input, once fixed, belongs in the corpus as a regression test.
set -euo pipefail
secs=${1:-10}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
work=${2:-$(mktemp -d /tmp/netcap-fuzz.XXXXXX)}
mkdir -p "$work"
cc=${CLANG:-clang-14}
command -v "$cc" >/dev/null || { echo "run.sh: $cc not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }
flags=(-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -I"$top/common" -I"$top/agent" $(pkg-config --cflags libcjson yaml-0.1))
libs=$(pkg-config --libs libcjson)
common=("$top"/common/ncap.c "$top"/common/pcapng.c "$top"/common/meta.c "$top"/common/tlv.c
        "$top"/common/bpfspec.c)
# What each harness needs beyond common/.
declare -A extra=(
  [request]="$top/agent/request.c $top/agent/selector.c"
  [kubeconfig]="$top/common/kubeconfig.c $top/common/sha256.c $(pkg-config --libs yaml-0.1)"
)
status=0
for h in ${FUZZ_HARNESSES:-pcapng meta tlv request kubeconfig}; do
  bin="$work/fuzz_$h"
  # shellcheck disable=SC2086
  "$cc" "${flags[@]}" -o "$bin" "$here/fuzz_$h.c" "${common[@]}" ${extra[$h]:-} $libs
  corpus="$work/corpus_$h"
  mkdir -p "$corpus"
  [ -d "$here/corpus/$h" ] && cp -r "$here/corpus/$h/." "$corpus/"
  echo "== fuzz_$h: ${secs}s"
  if ! "$bin" -max_total_time="$secs" -max_len=65536 -artifact_prefix="$work/crash_${h}_" \
       -print_final_stats=1 "$corpus" 2>"$work/fuzz_$h.log"; then
    echo "fuzz_$h FAILED; log and crash input in $work" >&2
    tail -40 "$work/fuzz_$h.log" >&2
    status=1
  fi
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$work/fuzz_$h.log" | sed "s/^/fuzz_$h /"
done
exit $status
