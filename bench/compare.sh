#!/usr/bin/env bash
# What a feature costs: RPS and p50/p99 latency of chat completions through
# Sluice (1 worker, on one core) in front of the mock upstream, for two
# manifests: a baseline (bench/sluice.yaml.template unless BASE says
# otherwise) and the feature's (WITH). bench/policies.sh and
# bench/guardrails.sh call it with theirs.
#
#   WITH=bench/policies.yaml.template LABEL=lua bench/compare.sh
#   EXPECT='^x-bench-policy: 200$'   a header line the feature's answer must carry
#   BENCH_TOKEN=...                  sent as a Bearer token with every request (both manifests)
#   NOTE='...'                       a line describing the feature, printed with the table
#
# Both gateways run for the whole script; measurements alternate between
# them ROUNDS times and the table shows medians, and each round's RPS as a
# share of the bare gateway's in the same round. It also shows the gateway's
# own CPU time per request (user + system, all threads, from /proc/PID/stat
# over each measured run): wrk and the mock share the other core, so when
# that core is full RPS hides the gateway's cost; CPU per request does not.
#
#   DURATION=30s ROUNDS=5 ...        longer and more rounds (default 10 s, 3)
#   SIDE_BY_SIDE=1 ...               both gateways loaded at once on their shared
#                                    core (bench/lib.sh side_by_side): each gets
#                                    half of it, and a disturbance of the machine
#                                    hits both in the same moment, so their RPS
#                                    ratio is their cost ratio, steadier than
#                                    runs taken in turn
#   ... --callgrind                  instructions per request instead
#
# --callgrind runs each gateway under valgrind's callgrind twice, for FEW and
# then MANY requests (200 and 1200) sent one after another on one
# connection; (total of MANY - total of FEW) / (MANY - FEW) is what one
# request costs, start-up excluded. Exact and repeatable where RPS on a busy
# machine is not.
#
# Needs a Release build in BUILD_DIR (default build/; built here if needed),
# wrk, curl and taskset (scripts/setup-deps.sh --bench); valgrind for
# --callgrind.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
SIDE_BY_SIDE=${SIDE_BY_SIDE:-0}
LABEL=${LABEL:-with}
BASE=${BASE:-$BENCH_ROOT/bench/sluice.yaml.template}
[[ -n ${WITH:-} ]] || die "WITH must name the feature's manifest template"
CONFIGS=(bare "$LABEL")
declare -A TEMPLATE=([bare]=$BASE [$LABEL]=$WITH)

MODE=wrk
[[ ${1:-} == --callgrind ]] && MODE=callgrind
FEW=${FEW:-200}
MANY=${MANY:-1200}

for tool in wrk curl taskset cmake; do need "$tool"; done
[[ $MODE == wrk ]] || need valgrind
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
ensure_configured || true
build_mock
build_sluice || die "sluice unavailable: $SLUICE_WHY"
export BENCH_BODY=$BENCH_ROOT/bench/chat-1k.json

declare -A URL GW_PID RPS_RUNS P50_RUNS P99_RUNS CPU_RUNS NON2XX

# start_gateway NAME TEMPLATE: sets URL[NAME] and GW_PID[NAME].
# shellcheck disable=SC2317 # called through with_retries
start_gateway() {
  local name=$1 dir=$BENCH_WORK/sluice-$1 port
  mkdir -p "$dir"
  port=$(free_port)
  fill "$2" "$dir/sluice.yaml" "$port"
  sed -i "s|@ROOT@|$BENCH_ROOT|g" "$dir/sluice.yaml"
  taskset -c "$GATEWAY_CORE" "$SLUICE_BIN" serve -c "$dir/sluice.yaml" >"$dir/sluice.log" 2>&1 &
  GW_PID[$name]=$!
  BENCH_PIDS+=("${GW_PID[$name]}")
  wait_port "$port" "${GW_PID[$name]}" sluice || {
    tail -5 "$dir/sluice.log" >&2
    return 1
  }
  URL[$name]="http://127.0.0.1:$port/v1/chat/completions"
}

# The feature must really run: EXPECT matches a header line of its answer.
check_feature() {
  local headers
  [[ -n ${EXPECT:-} ]] || return 0
  local auth=()
  [[ -z ${BENCH_TOKEN:-} ]] || auth=(-H "Authorization: Bearer $BENCH_TOKEN")
  headers=$(curl -s -D - -o /dev/null --max-time 10 -H 'Expect:' -H 'Content-Type: application/json' \
    "${auth[@]}" --data-binary "@$BENCH_BODY" "${URL[$LABEL]}" | tr -d '\r')
  grep -qiE "$EXPECT" <<<"$headers" || die "$LABEL did not run (no header matching $EXPECT): $headers"
}

if [[ $MODE == callgrind ]]; then
  start_mock
  echo "POST /v1/chat/completions, $(wc -c <"$BENCH_BODY") byte body, under callgrind:" \
    "instructions per request ((total for $MANY - total for $FEW) / $((MANY - FEW)))"
  declare -A IR
  for config in "${CONFIGS[@]}"; do
    few=$(callgrind_total "$config" "$FEW")
    many=$(callgrind_total "$config" "$MANY")
    IR[$config]=$(((many - few) / (MANY - FEW)))
    printf '%-8s %10d\n' "$config" "${IR[$config]}"
  done
  echo "$LABEL - bare: $((IR[$LABEL] - IR[bare])) instructions per request (+$(
    awk -v a="${IR[$LABEL]}" -v b="${IR[bare]}" 'BEGIN { printf "%.1f", 100 * (a - b) / b }')%)"
  [[ -z ${NOTE:-} ]] || echo "$LABEL: $NOTE"
  exit 0
fi

start_mock
for config in "${CONFIGS[@]}"; do
  with_retries start_gateway "$config" "${TEMPLATE[$config]}" || die "sluice ($config) did not start"
done
for config in "${CONFIGS[@]}"; do
  [[ $(preflight "${URL[$config]}") == 200 ]] ||
    die "$config: preflight answered: $(head -c 200 "$BENCH_WORK/preflight.body")"
done
check_feature

# account CONFIG LINE TICKS: one measured run's figures.
account() {
  [[ -n $2 ]] || die "$1: wrk printed no summary"
  RPS_RUNS[$1]+=" $(field "$2" rps)"
  CPU_RUNS[$1]+=" $(per_request_us "$3" "$(field "$2" requests)")"
  P50_RUNS[$1]+=" $(field "$2" p50_us)"
  P99_RUNS[$1]+=" $(field "$2" p99_us)"
  NON2XX[$1]=$((${NON2XX[$1]:-0} + $(field "$2" non2xx)))
}

for ((round = 1; round <= ROUNDS; round++)); do
  if [[ $SIDE_BY_SIDE == 1 ]]; then
    echo "bench: round $round of $ROUNDS: ${CONFIGS[*]} side by side" >&2
    side_by_side "$WARMUP" "${CONFIGS[@]}"
    side_by_side "$DURATION" "${CONFIGS[@]}"
    for config in "${CONFIGS[@]}"; do account "$config" "${SIDE_LINE[$config]}" "${SIDE_TICKS[$config]}"; done
    continue
  fi
  for config in "${CONFIGS[@]}"; do
    echo "bench: round $round of $ROUNDS: $config" >&2
    wrk_line "${URL[$config]}" "$WARMUP" >/dev/null
    before=$(cpu_ticks "${GW_PID[$config]}")
    line=$(wrk_line "${URL[$config]}" "$DURATION")
    after=$(cpu_ticks "${GW_PID[$config]}")
    account "$config" "$line" $((after - before))
  done
done

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
echo
echo "POST /v1/chat/completions, $(wc -c <"$BENCH_BODY") byte body;" \
  "wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a $WARMUP warm-up each time)"
echo "cores: sluice on core $GATEWAY_CORE (1 worker), mock upstream on core $MOCK_CORE," \
  "wrk on core $WRK_CORE; medians of $ROUNDS rounds"
[[ $SIDE_BY_SIDE != 1 ]] || echo "side by side: both gateways loaded at once, sharing core $GATEWAY_CORE" \
  "(RPS is each one's on half a core)"
[[ -z ${NOTE:-} ]] || echo "$LABEL: $NOTE"
echo
printf '%-8s %10s %9s %9s %8s %8s %11s %12s\n' config RPS "p50 ms" "p99 ms" non-2xx "vs bare" \
  "CPU us/req" "CPU vs bare"
for config in "${CONFIGS[@]}"; do
  relative=$(printf '%.1f%%' "$(median "$(round_ratios "${RPS_RUNS[$config]}" "${RPS_RUNS[bare]}")")")
  cpu=$(median "${CPU_RUNS[$config]}")
  cpu_relative=$(awk -v a="$cpu" -v b="$(median "${CPU_RUNS[bare]}")" \
    'BEGIN { if (b > 0) printf "%+.1f%%", 100 * (a - b) / b; else print "-" }')
  printf '%-8s %10.0f %9s %9s %8s %8s %11s %12s\n' "$config" "$(median "${RPS_RUNS[$config]}")" \
    "$(ms "$(median "${P50_RUNS[$config]}")")" "$(ms "$(median "${P99_RUNS[$config]}")")" \
    "${NON2XX[$config]}" "$relative" "$cpu" "$cpu_relative"
done
