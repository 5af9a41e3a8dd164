#!/usr/bin/env bash
# Where the sinks' CPU goes over a long run: one gateway with access-log,
# sqlite and prometheus (as bench/sinks.sh starts `sinks`: 1 worker, the
# worker and the sink thread on one core), RUNS wrk runs of DURATION in a
# row, and after each the CPU per request of the whole process and of each of
# its threads (user and system, from /proc/PID/task/*/stat), with the rows the
# SQLite file holds by then. A cost that grows with the file shows as a
# thread's figures rising from run to run.
#
#   bench/sinks-threads.sh                     11 runs of 10 s
#   RUNS=20 DURATION=10s bench/sinks-threads.sh
#
# Needs what bench/sinks.sh needs.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
RUNS=${RUNS:-11}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}

for tool in wrk curl taskset cmake; do need "$tool"; done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer (got '$RUNS')"
build_all
export BENCH_BODY=$BENCH_ROOT/bench/chat-1k.json
export BENCH_TOKEN=

start_mock
declare -A URL ADMIN GW_PID
start_sinks_gateway sinks "$THREE_SINKS" || die "sluice did not start"
pid=${GW_PID[sinks]}
url=${URL[sinks]}
admin=${ADMIN[sinks]}

# threads FILE: "tid user system" of every thread of the gateway, in ticks
# (the name in field 2 may hold spaces: the fields counted after its ')').
threads() {
  local t
  for t in /proc/"$pid"/task/*; do
    sed -E 's/^([0-9]+) \(.*\) /\1 /' "$t/stat" 2>/dev/null | awk '{ print $1, $13, $14 }'
  done | sort >"$1"
}

# us TICKS REQUESTS: microseconds per request, one decimal.
us() { awk -v t="$1" -v n="$2" -v us="$TICK_US" 'BEGIN { printf "%.1f", (n > 0 ? t * us / n : 0) }'; }

echo "POST /v1/chat/completions, $(wc -c <"$BENCH_BODY") byte body; wrk -t$THREADS" \
  "-c$CONNECTIONS -d$DURATION, $RUNS runs in a row; CPU us per request, user/system"
echo "(the worker is the thread with the most CPU, the sink thread the next)"
threads "$BENCH_WORK/before"
for ((run = 1; run <= RUNS; run++)); do
  line=$(wrk_line "$url" "$DURATION")
  [[ -n $line ]] || die "wrk printed no summary"
  threads "$BENCH_WORK/after"
  n=$(field "$line" requests)
  rows=$(curl -s --max-time 10 "http://127.0.0.1:$admin/metrics" |
    awk '$1 == "sluice_sink_records_total{sink=\"sqlite\"}" { print $2 }')
  printf 'run %2d  rps %6.0f  rows %8s  |' "$run" "$(field "$line" rps)" "$rows"
  join -a2 -e 0 -o 0,1.2,1.3,2.2,2.3 "$BENCH_WORK/before" "$BENCH_WORK/after" |
    awk '{ print $4 - $2, $5 - $3, $1 }' | sort -rn | while read -r u s tid; do
    if ((u + s > 0)); then printf '  %s %s/%s' "$tid" "$(us "$u" "$n")" "$(us "$s" "$n")"; fi
  done
  echo
  mv "$BENCH_WORK/after" "$BENCH_WORK/before"
done
