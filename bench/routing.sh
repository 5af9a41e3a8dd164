#!/usr/bin/env bash
# Cost of the routing phase: RPS and p50/p99 of chat completions through one
# Sluice (1 worker, on one core) in front of the mock upstream, asking for
#
#   direct   bench/gpt-4o-mini, a provider model no rule matches
#   routed   prod/bench, a virtual model whose priority rule has three
#            targets (the first answers: same upstream work as direct)
#
# from bench/routing.yaml.template. The two go round-robin ROUNDS times (a
# warm-up, then the measured run, each time) and the table shows medians;
# "vs direct" is the median of each round's routed/direct RPS.
#
# Then, unless CALLGRIND=0, the instructions each costs: the gateway runs
# under valgrind --tool=callgrind for CG_FEW and for CG_MANY sequential
# requests of one kind, and (Ir(many) - Ir(few)) / (many - few) is the cost
# of one request, start-up and shutdown cancelled out.
#
#   bench/routing.sh                        3 rounds of 10 s, then callgrind
#   DURATION=30s ROUNDS=5 bench/routing.sh
#   CALLGRIND=0 bench/routing.sh            RPS only
#
# Needs a Release build in BUILD_DIR (default build/; built here if needed),
# wrk, curl, taskset, node and valgrind (scripts/setup-deps.sh --bench).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
CALLGRIND=${CALLGRIND:-1}
CG_FEW=${CG_FEW:-500}
CG_MANY=${CG_MANY:-2500}
CONFIGS=(direct routed)

for tool in wrk curl taskset cmake; do need "$tool"; done
if [[ $CALLGRIND != 0 ]]; then
  need valgrind
  need node
fi
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"

ensure_configured || true
build_mock
build_sluice || die "sluice unavailable: $SLUICE_WHY"

declare -A BODY RPS_RUNS P50_RUNS P99_RUNS NON2XX IR
BODY[direct]=$BENCH_ROOT/bench/chat-1k.json
BODY[routed]=$BENCH_WORK/routed.json
sed 's|"model":"bench/gpt-4o-mini"|"model":"prod/bench"|' "${BODY[direct]}" >"${BODY[routed]}"
grep -q '"model":"prod/bench"' "${BODY[routed]}" || die "could not make the routed body"

# start_routing_sluice [WRAPPER...]: the gateway (under WRAPPER when given);
# sets SLUICE_PORT, ADMIN_PORT, SLUICE_PID.
start_routing_sluice() {
  local dir=$BENCH_WORK/sluice
  mkdir -p "$dir"
  SLUICE_PORT=$(free_port)
  ADMIN_PORT=$(free_port)
  while [[ $ADMIN_PORT == "$SLUICE_PORT" ]]; do ADMIN_PORT=$(free_port); done
  fill "$BENCH_ROOT/bench/routing.yaml.template" "$dir/sluice.yaml" "$SLUICE_PORT"
  sed -i "s|@ADMIN_PORT@|$ADMIN_PORT|g" "$dir/sluice.yaml"
  taskset -c "$GATEWAY_CORE" "$@" "$SLUICE_BIN" serve -c "$dir/sluice.yaml" \
    >>"$dir/sluice.log" 2>&1 &
  SLUICE_PID=$!
  BENCH_PIDS+=("$SLUICE_PID")
  wait_port "$SLUICE_PORT" "$SLUICE_PID" sluice || {
    tail -5 "$dir/sluice.log" >&2
    return 1
  }
}

# check_routing URL: the routed body really takes the rule and its first
# target, in one attempt, and the direct one takes none. Prints what is wrong.
check_routing() {
  local url=$1 headers
  headers=$(curl -s -D - -o /dev/null --max-time 10 -H 'Expect:' -H 'Content-Type: application/json' \
    --data-binary "@${BODY[routed]}" "$url" | tr -d '\r')
  grep -qi '^x-sluice-applied-rules: bench-priority$' <<<"$headers" ||
    echo "routed: the rule did not apply: $headers"
  grep -qi '^x-sluice-resolved-model: bench/gpt-4o-mini$' <<<"$headers" ||
    echo "routed: not answered by the first target: $headers"
  grep -qi '^x-sluice-attempts: 1$' <<<"$headers" || echo "routed: more than one attempt: $headers"
  headers=$(curl -s -D - -o /dev/null --max-time 10 -H 'Expect:' -H 'Content-Type: application/json' \
    --data-binary "@${BODY[direct]}" "$url" | tr -d '\r')
  if grep -qi '^x-sluice-applied-rules:' <<<"$headers"; then echo "direct: a rule applied: $headers"; fi
  grep -q '^HTTP/1.1 200' <<<"$headers" || echo "direct: $headers"
}

start_mock
start_routing_sluice || die "sluice did not start"
URL="http://127.0.0.1:$SLUICE_PORT/v1/chat/completions"
problem=$(check_routing "$URL")
[[ -z $problem ]] || die "$problem"

for ((round = 1; round <= ROUNDS; round++)); do
  for config in "${CONFIGS[@]}"; do
    echo "bench: round $round of $ROUNDS: $config" >&2
    warm=$(BENCH_BODY=${BODY[$config]} wrk_line "$URL" "$WARMUP")
    line=$(BENCH_BODY=${BODY[$config]} wrk_line "$URL" "$DURATION")
    [[ -n $warm && -n $line ]] || die "wrk printed no summary"
    RPS_RUNS[$config]+=" $(field "$line" rps)"
    P50_RUNS[$config]+=" $(field "$line" p50_us)"
    P99_RUNS[$config]+=" $(field "$line" p99_us)"
    NON2XX[$config]=$((${NON2XX[$config]:-0} + $(field "$line" non2xx) + $(field "$warm" non2xx) +
      $(field "$line" socket_errors)))
  done
done
stop_process "$SLUICE_PID"

# instructions CONFIG COUNT: sets IR_TOTAL, the instructions of a whole
# gateway run (start, COUNT requests, shutdown) under callgrind.
instructions() {
  local out=$BENCH_WORK/callgrind.$1.$2
  start_routing_sluice valgrind --tool=callgrind --callgrind-out-file="$out" ||
    die "sluice did not start under valgrind"
  node "$BENCH_ROOT/bench/send.mjs" --url "http://127.0.0.1:$SLUICE_PORT/v1/chat/completions" \
    --body "${BODY[$1]}" --count "$2" || die "requests failed under valgrind"
  stop_process "$SLUICE_PID"
  IR_TOTAL=$(sed -n -E 's/^(summary|totals): *([0-9]+).*/\2/p' "$out" | tail -1)
  [[ -n $IR_TOTAL ]] || die "no totals in $out"
}
if [[ $CALLGRIND != 0 ]]; then
  for config in "${CONFIGS[@]}"; do
    echo "bench: callgrind: $config ($CG_FEW, then $CG_MANY requests)" >&2
    instructions "$config" "$CG_FEW"
    few=$IR_TOTAL
    instructions "$config" "$CG_MANY"
    IR[$config]=$(((IR_TOTAL - few) / (CG_MANY - CG_FEW)))
  done
fi

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
echo
echo "POST /v1/chat/completions, $(wc -c <"${BODY[direct]}") byte body;" \
  "wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a $WARMUP warm-up each time)"
echo "cores: sluice on core $GATEWAY_CORE (1 worker), mock upstream on core $MOCK_CORE," \
  "wrk on core $WRK_CORE"
echo "direct: bench/gpt-4o-mini; routed: prod/bench, a priority rule of 3 targets (the first answers)"
echo "medians of $ROUNDS rounds taken in turn (KEEP_WORK=1 keeps the logs)"
echo
printf '%-8s %10s %9s %9s %8s %10s %12s\n' config RPS "p50 ms" "p99 ms" failed "vs direct" "Ir/request"
for config in "${CONFIGS[@]}"; do
  ratio="-"
  if [[ $config != direct ]]; then
    ratio=$(awk -v a="${RPS_RUNS[$config]}" -v b="${RPS_RUNS[direct]}" 'BEGIN {
      n = split(a, x, " "); split(b, y, " ")
      for (i = 1; i <= n; i++) printf " %f", 100 * x[i] / y[i] }')
    ratio=$(printf '%.1f%%' "$(median "$ratio")")
  fi
  printf '%-8s %10.0f %9s %9s %8s %10s %12s\n' "$config" "$(median "${RPS_RUNS[$config]}")" \
    "$(ms "$(median "${P50_RUNS[$config]}")")" "$(ms "$(median "${P99_RUNS[$config]}")")" \
    "${NON2XX[$config]}" "$ratio" "${IR[$config]:--}"
done
if ((ROUNDS > 1)); then
  echo
  echo "RPS of each round:"
  for config in "${CONFIGS[@]}"; do
    printf '  %-8s' "$config"
    for rps in ${RPS_RUNS[$config]}; do printf ' %8.0f' "$rps"; done
    echo
  done
fi
if [[ -n ${IR[routed]:-} && -n ${IR[direct]:-} ]]; then
  echo
  echo "the routing phase: $((IR[routed] - IR[direct])) instructions per request" \
    "(callgrind, ($CG_MANY - $CG_FEW) sequential requests)"
fi
failed=0
for config in "${CONFIGS[@]}"; do ((NON2XX[$config] == 0)) || failed=1; done
if ((failed)); then
  echo "warning: some requests failed (non-2xx or socket errors); the numbers are not comparable"
  exit 1
fi
