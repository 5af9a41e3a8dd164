#!/usr/bin/env bash
# Cost of the sinks: RPS and p50/p99 latency of chat completions through
# Sluice (1 worker; the worker and the sink thread share one core) in front
# of the mock upstream, with the same wrk load in each configuration:
#
#   none     no sinks: no record is built
#   sinks    access-log (logfmt to a file), sqlite (WAL file) and prometheus
#
# Both gateways run for the whole script; the measurements go round-robin
# over them ROUNDS times (a warm-up, then the measured run, each time), and
# the table shows medians; 'vs none' is the median of each round's RPS over
# the baseline's in that round. Because a shared machine moves RPS around,
# the table also shows the gateway's own CPU time per request (user + system,
# all its threads, from /proc/PID/stat over each measured run): on a core of
# its own, RPS is the inverse of that, so 'CPU vs none' is the figure that
# predicts the RPS cost. Afterwards the sinks gateway's /metrics must
# show every answered request in each sink and no record dropped, and the
# SQLite file must hold every record (counted from its blocks) and the
# access log one line per record. Exits 1 otherwise.
#
#   bench/sinks.sh                            3 rounds of 10 s
#   DURATION=30s ROUNDS=5 bench/sinks.sh
#   SIDE_BY_SIDE=1 bench/sinks.sh             both loaded at once on the shared core
#                                             (bench/lib.sh side_by_side)
#   bench/sinks.sh --callgrind                instructions per request instead
#
# --callgrind runs each configuration under valgrind's callgrind twice, for
# FEW and then MANY requests (200 and 1200) sent one after another on one
# connection (bench/lib.sh callgrind_total, as bench/compare.sh does), with
# `logging: {batch_records: 64, flush_interval_ms: 10000}` so that every
# commit carries the same records however fast valgrind runs, and no admin
# listener; (total of MANY - total of FEW) / (MANY - FEW) is what one
# request costs. The callgrind files stay in the bench's work directory
# (printed) for callgrind_annotate.
#
# Needs a Release build in BUILD_DIR (default build/; built here if needed),
# wrk, curl, sqlite3 and taskset (scripts/setup-deps.sh --bench); valgrind
# for --callgrind.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
SIDE_BY_SIDE=${SIDE_BY_SIDE:-0}
CONFIGS=(none sinks)

MODE=wrk
[[ ${1:-} == --callgrind ]] && MODE=callgrind
FEW=${FEW:-200}
MANY=${MANY:-1200}

for tool in wrk curl sqlite3 taskset cmake; do need "$tool"; done
[[ $MODE == wrk ]] || need valgrind
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"

build_all
export BENCH_BODY=$BENCH_ROOT/bench/chat-1k.json
export BENCH_TOKEN=

if [[ $MODE == callgrind ]]; then
  # The sinks template without the admin listener, with SINKS and fixed
  # batches; the files go in callgrind_total's directory (@DIR@).
  declare -A TEMPLATE
  for config in "${CONFIGS[@]}"; do
    sinks="[]"
    [[ $config == none ]] || sinks=${THREE_SINKS//.\//@DIR@\/}
    TEMPLATE[$config]=$BENCH_WORK/$config.yaml.template
    sed -e '/^admin:/d' -e '/@ADMIN_PORT@/d' -e "s|@SINKS@|$sinks|" \
      "$BENCH_ROOT/bench/sinks.yaml.template" >"${TEMPLATE[$config]}"
    echo "logging: {batch_records: 64, flush_interval_ms: 10000}" >>"${TEMPLATE[$config]}"
  done
  start_mock
  echo "POST /v1/chat/completions, $(wc -c <"$BENCH_BODY") byte body, under callgrind:" \
    "instructions per request ((total for $MANY - total for $FEW) / $((MANY - FEW)))"
  declare -A IR
  for config in "${CONFIGS[@]}"; do
    rm -rf "$BENCH_WORK/callgrind/$config"  # each run starts on no files
    few=$(callgrind_total "$config" "$FEW")
    mv "$BENCH_WORK/callgrind/$config" "$BENCH_WORK/callgrind/$config.few"
    many=$(callgrind_total "$config" "$MANY")
    mv "$BENCH_WORK/callgrind/$config.few/out.$FEW" "$BENCH_WORK/callgrind/$config/"
    rm -rf "$BENCH_WORK/callgrind/$config.few"
    IR[$config]=$(((many - few) / (MANY - FEW)))
    printf '%-8s %10d\n' "$config" "${IR[$config]}"
  done
  echo "sinks - none: $((IR[sinks] - IR[none])) instructions per request (+$(
    awk -v a="${IR[sinks]}" -v b="${IR[none]}" 'BEGIN { printf "%.1f", 100 * (a - b) / b }')%)"
  echo "callgrind files: $BENCH_WORK/callgrind/{none,sinks}/out.{$FEW,$MANY}"
  KEEP_WORK=1
  exit 0
fi

declare -A URL ADMIN GW_PID RPS_RUNS P50_RUNS P99_RUNS CPU_RUNS NON2XX ANSWERED
FAILED=0

measure() {
  local name=$1 warm line before after
  warm=$(wrk_line "${URL[$name]}" "$WARMUP")
  before=$(cpu_ticks "${GW_PID[$name]}")
  line=$(wrk_line "${URL[$name]}" "$DURATION")
  after=$(cpu_ticks "${GW_PID[$name]}")
  account "$name" "$warm" "$line" $((after - before))
}

# account NAME WARM_LINE LINE TICKS: one measured run's figures.
account() {
  local name=$1 warm=$2 line=$3
  [[ -n $warm && -n $line ]] || die "$name: wrk printed no summary"
  RPS_RUNS[$name]+=" $(field "$line" rps)"
  CPU_RUNS[$name]+=" $(per_request_us "$4" "$(field "$line" requests)")"
  P50_RUNS[$name]+=" $(field "$line" p50_us)"
  P99_RUNS[$name]+=" $(field "$line" p99_us)"
  NON2XX[$name]=$((${NON2XX[$name]:-0} + $(field "$line" non2xx) + $(field "$warm" non2xx)))
  ANSWERED[$name]=$((${ANSWERED[$name]:-0} + $(field "$warm" requests) + $(field "$line" requests)))
}

metric() {
  curl -s --max-time 10 "http://127.0.0.1:${ADMIN[sinks]}/metrics" |
    awk -v m="$1" '$1 == m { print $2 }'
}

start_mock
start_sinks_gateway none "[]"
start_sinks_gateway sinks "$THREE_SINKS"
for ((round = 1; round <= ROUNDS; round++)); do
  if [[ $SIDE_BY_SIDE == 1 ]]; then
    echo "bench: round $round of $ROUNDS: ${CONFIGS[*]} side by side" >&2
    side_by_side "$WARMUP" "${CONFIGS[@]}"
    declare -A warm_lines=()
    for config in "${CONFIGS[@]}"; do warm_lines[$config]=${SIDE_LINE[$config]}; done
    side_by_side "$DURATION" "${CONFIGS[@]}"
    for config in "${CONFIGS[@]}"; do
      account "$config" "${warm_lines[$config]}" "${SIDE_LINE[$config]}" "${SIDE_TICKS[$config]}"
    done
    continue
  fi
  for config in "${CONFIGS[@]}"; do
    echo "bench: round $round of $ROUNDS: $config" >&2
    measure "$config"
  done
done

# Every request wrk sent (plus the preflight) is a record in every sink; a
# request wrk abandoned at the end of a run may still be finishing, so wait
# until the count holds still.
last=-1
for _ in $(seq 50); do
  now=$(metric 'sluice_telemetry_records_total')
  [[ $now == "$last" ]] && break
  last=$now
  sleep 0.2
done
records=$last
dropped=$(metric 'sluice_telemetry_queue_dropped_total')
expected=$((ANSWERED[sinks] + 1))
report="sinks: $records records for $expected requests wrk sent (+ up to $((2 * ROUNDS * CONNECTIONS)) in flight at the stops); queue drops $dropped"
((records >= expected && records <= expected + 2 * ROUNDS * CONNECTIONS)) || FAILED=1
((dropped == 0)) || FAILED=1
for sink in access-log sqlite prometheus; do
  n=$(metric "sluice_sink_records_total{sink=\"$sink\"}")
  d=$(metric "sluice_sink_dropped_total{sink=\"$sink\"}")
  report+=$'\n'"  $sink: $n records, $d dropped"
  [[ $n == "$records" && $d == 0 ]] || FAILED=1
done
for config in "${CONFIGS[@]}"; do kill -TERM "${GW_PID[$config]}" 2>/dev/null || true; done
for config in "${CONFIGS[@]}"; do wait "${GW_PID[$config]}" 2>/dev/null || true; done
# The sqlite3 shell sees the blocks, not the `requests` table the sink
# registers on its own connection: each block holds its seq range. Past the
# sink's row cap (max_rows, 1,000,000 by default) the oldest are deleted in
# runs of up to 4,096: then the newest record must be there and the count
# within a run of the cap.
read -r rows newest < <(sqlite3 -separator ' ' "$BENCH_WORK/sinks/requests.db" \
  'SELECT COALESCE(SUM(last_seq - first_seq + 1), 0), COALESCE(MAX(last_seq), 0) FROM request_blocks')
lines=$(wc -l <"$BENCH_WORK/sinks/access.log")
report+=$'\n'"  after shutdown: $rows records in SQLite (the newest seq $newest), $lines access-log lines"
MAX_ROWS=1000000
if ((records <= MAX_ROWS)); then
  ((rows == records)) || FAILED=1
else
  ((rows >= MAX_ROWS - 4096 && rows <= MAX_ROWS + 4096)) || FAILED=1
  report+=" (past the row cap of $MAX_ROWS)"
fi
((newest == records && lines == records)) || FAILED=1

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
echo
echo "POST /v1/chat/completions, $(wc -c <"$BENCH_BODY") byte body;" \
  "wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a $WARMUP warm-up each time)"
echo "cores: sluice on core $GATEWAY_CORE (1 worker + the sink thread), mock upstream on core" \
  "$MOCK_CORE, wrk on core $WRK_CORE; medians of $ROUNDS rounds"
[[ $SIDE_BY_SIDE != 1 ]] || echo "side by side: both gateways loaded at once, sharing core $GATEWAY_CORE;" \
  "the sinks gateway's sink thread wins it more than half of it, so compare CPU per request, not RPS"
echo
printf '%-8s %10s %9s %9s %8s %8s %12s %12s\n' config RPS "p50 ms" "p99 ms" non-2xx "vs none" \
  "CPU us/req" "CPU vs none"
for config in "${CONFIGS[@]}"; do
  relative=$(printf '%.1f%%' "$(median "$(round_ratios "${RPS_RUNS[$config]}" "${RPS_RUNS[none]}")")")
  cpu=$(median "${CPU_RUNS[$config]}")
  cpu_relative=$(awk -v a="$cpu" -v b="$(median "${CPU_RUNS[none]}")" 'BEGIN { printf "%+.1f%%", 100 * (a - b) / b }')
  printf '%-8s %10.0f %9s %9s %8s %8s %12s %12s\n' "$config" "$(median "${RPS_RUNS[$config]}")" \
    "$(ms "$(median "${P50_RUNS[$config]}")")" "$(ms "$(median "${P99_RUNS[$config]}")")" \
    "${NON2XX[$config]}" "$relative" "$cpu" "$cpu_relative"
done
echo
echo "RPS and CPU us/request of each round:"
for config in "${CONFIGS[@]}"; do
  printf '  %-8s' "$config"
  for rps in ${RPS_RUNS[$config]}; do printf ' %8.0f' "$rps"; done
  printf '   '
  for cpu in ${CPU_RUNS[$config]}; do printf ' %6s' "$cpu"; done
  echo
done
echo
echo "$report"
((NON2XX[none] + NON2XX[sinks] == 0)) || { echo "non-2xx answers: the numbers do not measure the sinks"; FAILED=1; }
exit "$FAILED"
