#!/usr/bin/env bash
# Cost of the governance layer: RPS and p50/p99 latency of chat completions
# through Sluice (1 worker, on one core) in front of the mock upstream, with
# the same wrk load in each configuration:
#
#   bare     bench/sluice.yaml.template: no auth, no limits
#   memory   bench/governance.yaml.template: a virtual account (a Bearer token
#            made here), two rate limits and a priced budget, all too large to
#            refuse anything; counters in memory
#   redis    the same, counters in a redis-server started here (on the mock's
#            core, in a temporary folder) and stopped at the end
#
# Every gateway runs for the whole script; the measurements go round-robin
# over them ROUNDS times (a warm-up, then the measured run, each time), and
# the table shows each configuration's medians, so a machine whose load drifts
# does not favour whichever ran first. It also shows the gateway's own CPU
# time per request (user + system, all its threads, from /proc/PID/stat over
# each measured run) and, for redis, redis-server's: redis shares a core with
# wrk and the mock, so when that core is full RPS measures the machine, while
# the gateway's CPU per request is what predicts its RPS on a core of its own
# with Redis elsewhere.
#
# Then, for each governed gateway, GET /admin/limits on its admin listener:
# the request counter must equal what wrk got answered plus at most what wrk
# left in flight when it stopped, and a burst of PROBE_REQUESTS parallel
# requests must move it by exactly that many. Exits 1 when a request was
# refused, a count is off or Redis was unreachable.
#
#   bench/governance.sh                       all three, 3 rounds of 10 s
#   DURATION=30s ROUNDS=5 CONNECTIONS=128 bench/governance.sh
#   CONFIGS="bare redis" bench/governance.sh  a subset
#   SIDE_BY_SIDE=1 bench/governance.sh        every configuration loaded at once on
#                                             the shared gateway core (bench/lib.sh
#                                             side_by_side): RPS ratios steady on a
#                                             busy machine, RPS each on a share of it
#
# Needs a Release build in BUILD_DIR (default build/; built here if needed),
# wrk, curl, jq, openssl, sha256sum, taskset (scripts/setup-deps.sh --bench)
# and, for the redis configuration, redis-server.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
SIDE_BY_SIDE=${SIDE_BY_SIDE:-0}
CONFIGS=${CONFIGS:-bare memory redis}
PROBE_REQUESTS=${PROBE_REQUESTS:-1000}

# The governed manifest's rule ids and the virtual account's counter key.
REQUEST_RULE=bench-requests
RULES=(bench-requests bench-tokens bench-spend)
SUBJECT_KEY=subject=virtualaccount:bench

for tool in wrk curl jq openssl sha256sum taskset cmake; do need "$tool"; done
[[ " $CONFIGS " == *" redis "* ]] && need redis-server
for config in $CONFIGS; do
  case $config in
    bare | memory | redis) ;;
    *) die "unknown config '$config' (bare, memory, redis)" ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"

ensure_configured || true
build_mock
build_sluice || die "sluice unavailable: $SLUICE_WHY"

# The virtual account's token: only its hash goes into the manifest.
BENCH_TOKEN_VALUE=sk-bench-$(openssl rand -hex 24)
TOKEN_SHA256=$(printf '%s' "$BENCH_TOKEN_VALUE" | sha256sum | cut -d' ' -f1)
export BENCH_BODY=$BENCH_ROOT/bench/chat-1k.json

# Per configuration: URL, ADMIN (admin port), GW_PID, NOTE (why it was not
# measured); per round, space-separated: RPS_RUNS, P50_RUNS, P99_RUNS; summed
# over all runs: NON2XX, SOCKERR, ANSWERED; COUNTER_REPORT for the check.
declare -A URL ADMIN GW_PID NOTE RPS_RUNS P50_RUNS P99_RUNS CPU_RUNS REDIS_CPU_RUNS NON2XX SOCKERR
declare -A ANSWERED COUNTER_REPORT
FAILED=0
REDIS_PID=

label() {
  case $1 in
    bare) echo bare ;;
    *) echo "governance/$1" ;;
  esac
}

# Sets REDIS_PORT and REDIS_PID: a throwaway redis, no persistence.
# shellcheck disable=SC2317 # called through with_retries
start_redis() {
  local dir=$BENCH_WORK/redis
  mkdir -p "$dir"
  REDIS_PORT=$(free_port)
  taskset -c "$MOCK_CORE" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" \
    --save '' --appendonly no --daemonize no --logfile "$dir/redis.log" >/dev/null 2>&1 &
  REDIS_PID=$!
  BENCH_PIDS+=("$REDIS_PID")
  wait_port "$REDIS_PORT" "$REDIS_PID" redis-server || {
    tail -3 "$dir/redis.log" >&2
    return 1
  }
}

# start_governed_sluice NAME STATE: the governance manifest with STATE as its
# state: value. Sets SLUICE_PORT, ADMIN_PORT and SLUICE_PID.
# shellcheck disable=SC2317 # called through with_retries
start_governed_sluice() {
  local name=$1 state=$2 dir=$BENCH_WORK/sluice-$1
  mkdir -p "$dir"
  SLUICE_PORT=$(free_port)
  ADMIN_PORT=$(free_port)
  while [[ $ADMIN_PORT == "$SLUICE_PORT" ]]; do ADMIN_PORT=$(free_port); done
  fill "$BENCH_ROOT/bench/governance.yaml.template" "$dir/sluice.yaml" "$SLUICE_PORT"
  sed -i -e "s|@ADMIN_PORT@|$ADMIN_PORT|g" -e "s|@TOKEN_SHA256@|$TOKEN_SHA256|g" \
    -e "s|@STATE@|$state|g" "$dir/sluice.yaml"
  taskset -c "$GATEWAY_CORE" "$SLUICE_BIN" serve -c "$dir/sluice.yaml" >"$dir/sluice.log" 2>&1 &
  SLUICE_PID=$!
  BENCH_PIDS+=("$SLUICE_PID")
  if ! wait_port "$SLUICE_PORT" "$SLUICE_PID" sluice ||
    ! wait_port "$ADMIN_PORT" "$SLUICE_PID" sluice; then
    tail -3 "$dir/sluice.log" >&2
    return 1
  fi
}

# check_governed URL: the governance layer really runs. Without a token the
# gateway answers 401; with it 200, naming every rule in x-sluice-applied-rules.
# Prints what is wrong, nothing when all is well.
check_governed() {
  local url=$1 code rule applied
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Expect:' \
    -H 'Content-Type: application/json' --data-binary "@$BENCH_BODY" "$url") || true
  if [[ $code != 401 ]]; then
    echo "without a token the gateway answered HTTP $code, not 401: is auth on?"
    return 0
  fi
  code=$(curl -s -D "$BENCH_WORK/preflight.headers" -o "$BENCH_WORK/preflight.body" \
    -w '%{http_code}' --max-time 10 -H 'Expect:' -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $BENCH_TOKEN_VALUE" --data-binary "@$BENCH_BODY" "$url") || true
  if [[ $code != 200 ]]; then
    echo "preflight answered HTTP $code: $(head -c 200 "$BENCH_WORK/preflight.body" 2>/dev/null)"
    return 0
  fi
  applied=$(tr -d '\r' <"$BENCH_WORK/preflight.headers" |
    sed -n 's/^x-sluice-applied-rules: *//Ip')
  for rule in "${RULES[@]}"; do
    if [[ ",${applied// /}," != *",$rule,"* ]]; then
      echo "rule '$rule' did not apply (x-sluice-applied-rules: '$applied')"
      return 0
    fi
  done
}

# start_config NAME: starts NAME's gateway (and redis for redis) and checks it
# answers; sets URL, ADMIN and GW_PID, or NOTE.
start_config() {
  local name=$1 state problem=
  case $name in
    bare)
      with_retries start_sluice || {
        NOTE[$name]="sluice did not start"
        return 0
      }
      URL[$name]="http://127.0.0.1:$SLUICE_PORT/v1/chat/completions"
      if [[ $(preflight "${URL[$name]}") != 200 ]]; then
        problem="preflight answered: $(head -c 200 "$BENCH_WORK/preflight.body" 2>/dev/null)"
      fi
      ;;
    memory | redis)
      state="{backend: memory}"
      if [[ $name == redis ]]; then
        with_retries start_redis || {
          NOTE[$name]="redis-server did not start"
          return 0
        }
        state="{backend: redis, redis: {url: redis://127.0.0.1:$REDIS_PORT}}"
      fi
      with_retries start_governed_sluice "$name" "$state" || {
        NOTE[$name]="sluice did not start"
        return 0
      }
      URL[$name]="http://127.0.0.1:$SLUICE_PORT/v1/chat/completions"
      ADMIN[$name]=$ADMIN_PORT
      problem=$(check_governed "${URL[$name]}")
      ;;
  esac
  GW_PID[$name]=$SLUICE_PID
  if [[ -n $problem ]]; then
    NOTE[$name]=$problem
    stop_process "$SLUICE_PID"
  fi
  return 0
}

# measure NAME ROUND: a warm-up run, then the measured run. ANSWERED counts
# the 2xx answers wrk got, warm-ups included, for the request counter check
# (a refused request is not counted).
measure() {
  local name=$1 round=$2 warm line
  # post.lua sends Authorization: Bearer $BENCH_TOKEN when it is set.
  export BENCH_TOKEN=${BEARER[$name]}
  local gw_before gw_after redis_before=0 redis_after=0
  warm=$(wrk_line "${URL[$name]}" "$WARMUP")
  gw_before=$(cpu_ticks "${GW_PID[$name]}")
  [[ $name == redis ]] && redis_before=$(cpu_ticks "$REDIS_PID")
  line=$(wrk_line "${URL[$name]}" "$DURATION")
  gw_after=$(cpu_ticks "${GW_PID[$name]}")
  [[ $name == redis ]] && redis_after=$(cpu_ticks "$REDIS_PID")
  account "$name" "$round" "$warm" "$line" $((gw_after - gw_before)) $((redis_after - redis_before))
}

# measure_side_by_side ROUND NAME...: every configuration loaded at once
# (bench/lib.sh side_by_side); redis-server's ticks go to the redis one.
measure_side_by_side() {
  local round=$1 name redis_before=0 redis_after=0 redis_ticks
  shift
  side_by_side "$WARMUP" "$@"
  local -A warm_lines
  for name; do warm_lines[$name]=${SIDE_LINE[$name]}; done
  [[ -n $REDIS_PID ]] && redis_before=$(cpu_ticks "$REDIS_PID")
  side_by_side "$DURATION" "$@"
  [[ -n $REDIS_PID ]] && redis_after=$(cpu_ticks "$REDIS_PID")
  for name; do
    redis_ticks=0
    [[ $name == redis ]] && redis_ticks=$((redis_after - redis_before))
    account "$name" "$round" "${warm_lines[$name]}" "${SIDE_LINE[$name]}" "${SIDE_TICKS[$name]}" "$redis_ticks"
  done
}

# account NAME ROUND WARM_LINE LINE GATEWAY_TICKS REDIS_TICKS: one measured
# run's figures.
account() {
  local name=$1 round=$2 warm=$3 line=$4
  echo "round $round: $line" >>"$BENCH_WORK/wrk-$name.txt"
  if [[ -z $warm || -z $line ]]; then
    NOTE[$name]="wrk printed no summary"
    return 0
  fi
  RPS_RUNS[$name]+=" $(field "$line" rps)"
  CPU_RUNS[$name]+=" $(per_request_us "$5" "$(field "$line" requests)")"
  REDIS_CPU_RUNS[$name]+=" $(per_request_us "$6" "$(field "$line" requests)")"
  P50_RUNS[$name]+=" $(field "$line" p50_us)"
  P99_RUNS[$name]+=" $(field "$line" p99_us)"
  NON2XX[$name]=$((${NON2XX[$name]:-0} + $(field "$line" non2xx) + $(field "$warm" non2xx)))
  SOCKERR[$name]=$((${SOCKERR[$name]:-0} + $(field "$line" socket_errors) +
    $(field "$warm" socket_errors)))
  ANSWERED[$name]=$((${ANSWERED[$name]:-0} + $(field "$warm" requests) - $(field "$warm" non2xx) +
    $(field "$line" requests) - $(field "$line" non2xx)))
}

limits_json() {
  curl -s --max-time 10 "http://127.0.0.1:${ADMIN[$1]}/admin/limits"
}

# request_counter NAME: the virtual account's request counter.
request_counter() {
  limits_json "$1" | jq -r --arg id "$REQUEST_RULE" --arg key "$SUBJECT_KEY" \
    '[.rate_limits[] | select(.id == $id) | .counters[] | select(.key == $key) | .used][0] // 0'
}

# settled_counter NAME: waits until the counter holds still (requests wrk
# abandoned may be admitted just after it stops), then prints it.
settled_counter() {
  local last now
  last=$(request_counter "$1")
  for _ in $(seq 50); do
    sleep 0.2
    now=$(request_counter "$1")
    [[ $now == "$last" ]] && break
    last=$now
  done
  echo "$last"
}

# parallel_probe URL N: N requests over CONNECTIONS parallel connections
# (curl -Z), each to completion; prints how many were answered 200.
parallel_probe() {
  local config=$BENCH_WORK/probe.curlrc i
  : >"$config"
  for ((i = 0; i < $2; i++)); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$1" >>"$config"
  done
  taskset -c "$WRK_CORE" curl -s -Z --parallel-max "$CONNECTIONS" --max-time 60 -H 'Expect:' \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $BENCH_TOKEN_VALUE" \
    --data-binary "@$BENCH_BODY" -w '%{http_code}\n' --config "$config" 2>"$BENCH_WORK/probe.log" |
    grep -c '^200$' || true
}

# check_counter NAME: compares the request counter with wrk's 2xx answers (+ 1
# for the preflight), then probes it with an exact, parallel burst.
check_counter() {
  local name=$1 counted expected extra in_flight ok before after verdict state budget report
  counted=$(settled_counter "$name")
  expected=$((ANSWERED[$name] + 1))
  extra=$((counted - expected))
  in_flight=$((2 * ROUNDS * CONNECTIONS)) # each wrk run can leave every connection mid-request
  report="$(label "$name"): counter $counted; wrk got $expected 2xx answers"
  report+=" (1 preflight + $ROUNDS x (warm-up + measured run))"
  if ((extra < 0)); then
    report+=" -> $((-extra)) answered requests were NOT counted"
    FAILED=1
  elif ((extra > in_flight)); then
    report+=" -> $extra more than answered, above the $in_flight wrk can leave in flight"
    FAILED=1
  else
    report+=" + $extra left in flight when wrk stopped (at most $in_flight)"
  fi
  before=$counted
  ok=$(parallel_probe "${URL[$name]}" "$PROBE_REQUESTS")
  after=$(settled_counter "$name")
  verdict="exact"
  if ((ok != PROBE_REQUESTS || after - before != PROBE_REQUESTS)); then
    verdict="MISMATCH"
    FAILED=1
  fi
  report+=$'\n'"    burst of $PROBE_REQUESTS over $CONNECTIONS connections: $ok answered 200,"
  report+=" counter $before -> $after (+$((after - before))): $verdict"
  state=$(limits_json "$name" | jq -r '.state |
    "backend \(.backend), connected \(.connected), unavailable_total \(.unavailable_total)"')
  report+=$'\n'"    state: $state"
  budget=$(limits_json "$name" | jq -r '.budgets[] | .id as $id | .entries[] |
    "budget \($id) [\(.key)]: spent \(.spent) USD, reserved \(.reserved) USD"') || true
  if [[ -n $budget && $budget != *"spent 0 USD"* ]]; then
    report+=$'\n'"    $budget"
  else
    report+=$'\n'"    WARNING: the budget was not charged (${budget:-no entry}): is pricing applied?"
    FAILED=1
  fi
  if [[ $state != *"connected true, unavailable_total 0"* ]]; then
    local why
    why=$(grep -m1 'state backend unavailable' "$BENCH_WORK/sluice-$name/sluice.log" |
      sed 's/.*state backend unavailable: //') || true
    report+=$'\n'"    WARNING: state calls failed or timed out (${why:-no reason logged});"
    report+=" fail_open admitted those requests without their checks"
    FAILED=1
  fi
  COUNTER_REPORT[$name]=$report
}

start_mock
for config in $CONFIGS; do
  start_config "$config"
  [[ -z ${NOTE[$config]:-} ]] || FAILED=1
done
for config in $CONFIGS; do
  BEARER[$config]=
  [[ $config == bare ]] || BEARER[$config]=$BENCH_TOKEN_VALUE
done
for ((round = 1; round <= ROUNDS; round++)); do
  if [[ $SIDE_BY_SIDE == 1 ]]; then
    running=()
    for config in $CONFIGS; do [[ -n ${NOTE[$config]:-} ]] || running+=("$config"); done
    echo "bench: round $round of $ROUNDS: ${running[*]} side by side" >&2
    measure_side_by_side "$round" "${running[@]}"
    continue
  fi
  for config in $CONFIGS; do
    [[ -z ${NOTE[$config]:-} ]] || continue
    echo "bench: round $round of $ROUNDS: $(label "$config")" >&2
    measure "$config" "$round"
  done
done
for config in $CONFIGS; do
  [[ $config != bare && -z ${NOTE[$config]:-} ]] && check_counter "$config"
  [[ -n ${GW_PID[$config]:-} ]] && stop_process "${GW_PID[$config]}"
done
[[ -n $REDIS_PID ]] && stop_process "$REDIS_PID"

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

echo
echo "POST /v1/chat/completions, $(wc -c <"$BENCH_BODY") byte body;" \
  "wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a $WARMUP warm-up each time)"
echo "cores: sluice on core $GATEWAY_CORE (1 worker), mock upstream and redis on core $MOCK_CORE," \
  "wrk on core $WRK_CORE"
echo "governance: Bearer-token virtual account, requests_per_day per subject," \
  "tokens_per_minute per team, cost_per_month budget per team; none can refuse"
if [[ $SIDE_BY_SIDE == 1 ]]; then
  echo "medians of $ROUNDS rounds, configurations loaded side by side on core $GATEWAY_CORE (each" \
    "on its share of it); 'vs bare' is the median of each round's RPS over bare's in that round"
else
  echo "medians of $ROUNDS rounds, configurations taken in turn; 'vs bare' is the median of each" \
    "round's RPS over bare's in that round (KEEP_WORK=1 keeps every run's wrk summary and logs)"
fi
echo
printf '%-18s %10s %9s %9s %8s %8s %11s %12s %13s\n' config RPS "p50 ms" "p99 ms" non-2xx \
  "vs bare" "CPU us/req" "CPU vs bare" "redis us/req"
declare -A RPS
for config in $CONFIGS; do
  [[ -n ${RPS_RUNS[$config]:-} ]] && RPS[$config]=$(median "${RPS_RUNS[$config]}")
done
for config in $CONFIGS; do
  if [[ -z ${NOTE[$config]:-} && -n ${RPS[$config]:-} ]]; then
    relative="-"
    cpu=$(median "${CPU_RUNS[$config]}")
    cpu_relative="-"
    if [[ -n ${RPS[bare]:-} ]]; then
      relative=$(printf '%.1f%%' "$(median "$(round_ratios "${RPS_RUNS[$config]}" \
        "${RPS_RUNS[bare]}")")")
      cpu_relative=$(awk -v a="$cpu" -v b="$(median "${CPU_RUNS[bare]}")" \
        'BEGIN { if (b > 0) printf "%+.1f%%", 100 * (a - b) / b; else print "-" }')
    fi
    redis_cpu="-"
    [[ $config == redis ]] && redis_cpu=$(median "${REDIS_CPU_RUNS[$config]}")
    printf '%-18s %10.0f %9s %9s %8s %8s %11s %12s %13s\n' "$(label "$config")" \
      "${RPS[$config]}" "$(ms "$(median "${P50_RUNS[$config]}")")" \
      "$(ms "$(median "${P99_RUNS[$config]}")")" "${NON2XX[$config]}" "$relative" "$cpu" \
      "$cpu_relative" "$redis_cpu"
  else
    printf '%-18s %s\n' "$(label "$config")" "n/a (${NOTE[$config]:-not run})"
    FAILED=1
  fi
done
if ((ROUNDS > 1)); then
  echo
  echo "RPS and gateway CPU us/request of each round:"
  for config in $CONFIGS; do
    [[ -n ${RPS_RUNS[$config]:-} ]] || continue
    printf '  %-18s' "$(label "$config")"
    for rps in ${RPS_RUNS[$config]}; do printf ' %8.0f' "$rps"; done
    for cpu in ${CPU_RUNS[$config]}; do printf ' %7s' "$cpu"; done
    echo
  done
fi

refused=()
for config in $CONFIGS; do
  [[ -n ${RPS_RUNS[$config]:-} ]] || continue
  if ((NON2XX[$config] + SOCKERR[$config] != 0)); then
    refused+=("$(label "$config"): ${NON2XX[$config]} non-2xx answers and ${SOCKERR[$config]} socket errors (warm-ups and measured runs)")
  fi
done
echo
if ((${#refused[@]})); then
  FAILED=1
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo "!! WARNING: requests were refused or failed; these numbers do not measure the"
  echo "!! cost of admitting every request:"
  for line in "${refused[@]}"; do echo "!!   $line"; done
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
else
  echo "refusals: none (every answer 2xx, no socket errors, warm-ups included)"
fi

reported=0
for config in $CONFIGS; do
  [[ -n ${COUNTER_REPORT[$config]:-} ]] || continue
  if ((!reported)); then
    echo
    echo "request counter (GET /admin/limits, rule $REQUEST_RULE, $SUBJECT_KEY):"
    reported=1
  fi
  echo "  ${COUNTER_REPORT[$config]}"
done
exit "$FAILED"
