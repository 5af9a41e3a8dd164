# shellcheck shell=bash
# Helpers shared by the bench/ scripts (sourced, not run).
# Everything started here is recorded in BENCH_PIDS and stopped on exit.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$BENCH_ROOT/build}
JOBS=${JOBS:-2}
BENCH_PIDS=()
BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
chmod 755 "$BENCH_WORK" # nginx started as root runs its worker as nobody

bench_cleanup() {
  local i pid
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${BENCH_PIDS[i]}" 2>/dev/null || true
  done
  for pid in "${BENCH_PIDS[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  BENCH_PIDS=()
  if [[ ${KEEP_WORK:-0} == 1 ]]; then
    echo "logs kept in $BENCH_WORK" >&2
  else
    rm -rf "$BENCH_WORK"
  fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# Many sockets: 2,000 streams are 4,000 descriptors in the gateway alone.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Core placement: the gateway alone on one core, the mock and wrk elsewhere.
NCPU=$(nproc)
GATEWAY_CORE=${GATEWAY_CORE:-0}
MOCK_CORE=${MOCK_CORE:-$((NCPU > 1 ? 1 : 0))}
WRK_CORE=${WRK_CORE:-$((NCPU > 2 ? 2 : MOCK_CORE))}

die() {
  echo "bench: $*" >&2
  exit 1
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found: run scripts/setup-deps.sh --bench"
}

# A port nothing listens on (connecting to it is refused).
free_port() {
  local port
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found"
}

# wait_port PORT PID NAME: until PORT accepts, while PID lives; at most 30 s.
wait_port() {
  local port=$1 pid=$2 name=$3
  for _ in $(seq 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "bench: $name exited before listening on $port" >&2
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  echo "bench: $name did not listen on $port within 30 s" >&2
  return 1
}

# Configures BUILD_DIR (Release, Ninja) unless it is configured already.
ensure_configured() {
  if [[ ! -f $BUILD_DIR/build.ninja && ! -f $BUILD_DIR/Makefile ]]; then
    local args=()
    [[ -f $BUILD_DIR/CMakeCache.txt ]] || args=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
    echo "bench: configuring $BUILD_DIR" >&2
    cmake -S "$BENCH_ROOT" -B "$BUILD_DIR" "${args[@]}" >"$BENCH_WORK/configure.log" 2>&1 || {
      echo "bench: configuring $BUILD_DIR failed:" >&2
      grep -A3 'CMake Error' "$BENCH_WORK/configure.log" | head -20 >&2
      return 1
    }
  fi
  local type
  type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")
  if [[ $type != Release ]]; then
    echo "bench: warning: $BUILD_DIR is a '$type' build; numbers are meant for Release" >&2
  fi
}

# Sets MOCK_BIN: the main build's bench_mock_upstream, else a standalone build
# of bench/ (for trees whose top-level CMakeLists does not include bench/).
build_mock() {
  if [[ -n ${MOCK_BIN:-} ]]; then
    return 0
  fi
  if [[ -f $BUILD_DIR/build.ninja || -f $BUILD_DIR/Makefile ]] &&
    cmake --build "$BUILD_DIR" -j"$JOBS" --target bench_mock_upstream \
      >"$BENCH_WORK/build-mock.log" 2>&1; then
    MOCK_BIN=$BUILD_DIR/bench_mock_upstream
    return 0
  fi
  local dir=$BUILD_DIR/bench-mock
  { cmake -S "$BENCH_ROOT/bench" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$dir" -j"$JOBS"; } >"$BENCH_WORK/build-mock.log" 2>&1 || {
    tail -20 "$BENCH_WORK/build-mock.log" >&2
    die "building the mock upstream failed"
  }
  MOCK_BIN=$dir/bench_mock_upstream
}

# Sets SLUICE_BIN, or leaves it empty and sets SLUICE_WHY.
build_sluice() {
  SLUICE_BIN=
  SLUICE_WHY=
  if [[ ! -f $BUILD_DIR/build.ninja && ! -f $BUILD_DIR/Makefile ]]; then
    SLUICE_WHY="$BUILD_DIR is not configured"
    return 1
  fi
  if ! cmake --build "$BUILD_DIR" -j"$JOBS" --target sluice >"$BENCH_WORK/build-sluice.log" 2>&1; then
    cp "$BENCH_WORK/build-sluice.log" "$BUILD_DIR/bench-build-sluice.log" 2>/dev/null || true
    SLUICE_WHY="build failed, see $BUILD_DIR/bench-build-sluice.log"
    return 1
  fi
  SLUICE_BIN=$BUILD_DIR/sluice
}

# build_all: the mock upstream and sluice (configuring BUILD_DIR if needed);
# dies when sluice cannot be built.
build_all() {
  ensure_configured || true
  build_mock
  build_sluice || die "sluice unavailable: $SLUICE_WHY"
}

# start_mock ARGS...: sets MOCK_PORT and MOCK_PID.
start_mock() {
  local port_file=$BENCH_WORK/mock.port
  rm -f "$port_file"
  taskset -c "$MOCK_CORE" "$MOCK_BIN" --port-file "$port_file" "$@" \
    >"$BENCH_WORK/mock.log" 2>&1 &
  MOCK_PID=$!
  BENCH_PIDS+=("$MOCK_PID")
  for _ in $(seq 200); do
    [[ -s $port_file ]] && break
    kill -0 "$MOCK_PID" 2>/dev/null || break
    sleep 0.05
  done
  [[ -s $port_file ]] || { cat "$BENCH_WORK/mock.log" >&2; die "the mock upstream did not start"; }
  MOCK_PORT=$(<"$port_file")
}

# fill TEMPLATE OUT PORT: writes OUT from TEMPLATE with this run's values.
fill() {
  sed -e "s|@DIR@|$(dirname "$2")|g" -e "s|@PORT@|$3|g" -e "s|@UPSTREAM_PORT@|$MOCK_PORT|g" \
    "$1" >"$2"
}

# Sets NGINX_PORT and NGINX_PID.
start_nginx() {
  local dir=$BENCH_WORK/nginx
  mkdir -p "$dir"
  chmod 755 "$dir"
  NGINX_PORT=$(free_port)
  fill "$BENCH_ROOT/bench/nginx.conf.template" "$dir/nginx.conf" "$NGINX_PORT"
  taskset -c "$GATEWAY_CORE" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/nginx-error.log" \
    >"$dir/stdout.log" 2>&1 &
  NGINX_PID=$!
  BENCH_PIDS+=("$NGINX_PID")
  wait_port "$NGINX_PORT" "$NGINX_PID" nginx || {
    cat "$dir/stdout.log" "$dir/nginx-error.log" >&2 2>/dev/null
    return 1
  }
}

# Sets SLUICE_PORT and SLUICE_PID.
start_sluice() {
  local dir=$BENCH_WORK/sluice
  mkdir -p "$dir"
  SLUICE_PORT=$(free_port)
  fill "$BENCH_ROOT/bench/sluice.yaml.template" "$dir/sluice.yaml" "$SLUICE_PORT"
  taskset -c "$GATEWAY_CORE" "$SLUICE_BIN" serve -c "$dir/sluice.yaml" >"$dir/sluice.log" 2>&1 &
  SLUICE_PID=$!
  BENCH_PIDS+=("$SLUICE_PID")
  wait_port "$SLUICE_PORT" "$SLUICE_PID" sluice || {
    tail -20 "$dir/sluice.log" >&2
    return 1
  }
}

# The sinks bench/sinks.sh measures: access-log, sqlite and prometheus.
# shellcheck disable=SC2034 # used by the scripts that source this file
THREE_SINKS="[{plugin: access-log, config: {path: ./access.log}}, {plugin: sqlite, config: {path: ./requests.db}}, {plugin: prometheus}]"

# start_sinks_gateway NAME SINKS: a gateway from bench/sinks.yaml.template
# with SINKS, in BENCH_WORK/NAME; sets URL, ADMIN and GW_PID for NAME (arrays
# the caller declares with declare -A).
start_sinks_gateway() {
  local name=$1 sinks=$2 dir=$BENCH_WORK/$1 port admin
  mkdir -p "$dir"
  port=$(free_port)
  admin=$(free_port)
  while [[ $admin == "$port" ]]; do admin=$(free_port); done
  fill "$BENCH_ROOT/bench/sinks.yaml.template" "$dir/sluice.yaml" "$port"
  sed -i -e "s|@ADMIN_PORT@|$admin|g" -e "s|@SINKS@|$sinks|g" "$dir/sluice.yaml"
  (cd "$dir" && exec taskset -c "$GATEWAY_CORE" "$SLUICE_BIN" serve -c sluice.yaml) \
    >"$dir/sluice.log" 2>&1 &
  GW_PID[$name]=$!
  BENCH_PIDS+=("${GW_PID[$name]}")
  wait_port "$port" "${GW_PID[$name]}" sluice && wait_port "$admin" "${GW_PID[$name]}" sluice || {
    tail -5 "$dir/sluice.log" >&2
    return 1
  }
  URL[$name]="http://127.0.0.1:$port/v1/chat/completions"
  # shellcheck disable=SC2034 # read by the caller
  ADMIN[$name]=$admin
  [[ $(preflight "${URL[$name]}") == 200 ]] || die "$name: preflight failed: $(head -c 200 "$BENCH_WORK/preflight.body")"
}

# preflight URL: prints the HTTP status of one request with the bench body.
# Sends BENCH_TOKEN as a Bearer token when it is set, as bench/post.lua does.
preflight() {
  local auth=()
  [[ -z ${BENCH_TOKEN:-} ]] || auth=(-H "Authorization: Bearer $BENCH_TOKEN")
  curl -s -o "$BENCH_WORK/preflight.body" -w '%{http_code}' --max-time 10 -H 'Expect:' \
    -H 'Content-Type: application/json' "${auth[@]}" \
    --data-binary "@$BENCH_ROOT/bench/chat-1k.json" "$1" || true
}
# wrk_line URL SECONDS: one wrk run (THREADS, CONNECTIONS, bench/post.lua);
# prints its BENCH summary line.
wrk_line() {
  local out
  out=$(taskset -c "$WRK_CORE" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2" --latency \
    -s "$BENCH_ROOT/bench/post.lua" "$1")
  grep '^BENCH ' <<<"$out" || true
}

# cpu_ticks PID: user + system clock ticks of every thread of PID so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# side_by_side SECONDS NAME...: one wrk run per named gateway, all at once
# (URL[NAME]; BEARER[NAME], when that array sets it, else BENCH_TOKEN, as the
# Bearer token). The gateways share GATEWAY_CORE, so the scheduler gives each
# an equal share of it and whatever disturbs the machine hits all of them in
# the same moment: their RPS compare as their costs per request do, without
# the drift between runs taken one after another. Sets SIDE_LINE[NAME] (the
# BENCH summary line) and SIDE_TICKS[NAME] (the gateway's CPU ticks over it).
declare -A SIDE_LINE SIDE_TICKS BEARER
side_by_side() {
  local seconds=$1 name pids=()
  shift
  local -A before
  for name; do before[$name]=$(cpu_ticks "${GW_PID[$name]}"); done
  for name; do
    (
      export BENCH_TOKEN=${BEARER[$name]-${BENCH_TOKEN:-}}
      wrk_line "${URL[$name]}" "$seconds" >"$BENCH_WORK/side-$name.txt"
    ) &
    pids+=($!)
  done
  wait "${pids[@]}"
  for name; do
    SIDE_TICKS[$name]=$(($(cpu_ticks "${GW_PID[$name]}") - before[$name]))
    SIDE_LINE[$name]=$(cat "$BENCH_WORK/side-$name.txt")
  done
}

# per_request_us TICKS REQUESTS: CPU microseconds per request.
per_request_us() {
  awk -v t="$1" -v us="$TICK_US" -v n="$2" 'BEGIN { printf "%.2f", (n > 0 ? t * us / n : 0) }'
}

# field LINE NAME: the value of NAME=... in a BENCH summary line.
field() { sed -E "s/.* $2=([0-9.]+).*/\1/" <<<"$1"; }

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END {
  print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# round_ratios RUNS BASE_RUNS: each round's RPS as a percentage of the
# baseline's in the same round (neighbours in time, so a drifting machine
# load cancels out).
round_ratios() {
  awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; i++) if (y[i] > 0) printf " %f", 100 * x[i] / y[i] }'
}

# with_retries CMD...: a port free_port found can still be taken by the time
# the server binds it (wrk's and the gateway's own outgoing connections use
# the same range), so a start that fails is tried again on other ports.
with_retries() {
  local attempt
  for attempt in 1 2 3 4 5; do
    "$@" && return 0
    echo "bench: '$1' failed (attempt $attempt of 5)" >&2
  done
  return 1
}

# stop_process PID: TERM, then KILL after 5 s.
stop_process() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# callgrind_total NAME N: instructions the gateway NAME (its manifest
# template in TEMPLATE[NAME], an array the caller declares with declare -A)
# runs to start, answer N requests on one connection, and stop. Its
# callgrind output stays in $BENCH_WORK/callgrind/NAME/out.N (KEEP_WORK=1
# keeps it for callgrind_annotate).
callgrind_total() {
  local dir=$BENCH_WORK/callgrind/$1 port pid i
  mkdir -p "$dir"
  port=$(free_port)
  fill "${TEMPLATE[$1]}" "$dir/sluice.yaml" "$port"
  sed -i "s|@ROOT@|$BENCH_ROOT|g" "$dir/sluice.yaml"
  valgrind --tool=callgrind --callgrind-out-file="$dir/out.$2" "$SLUICE_BIN" serve \
    -c "$dir/sluice.yaml" >"$dir/log.$2" 2>&1 &
  pid=$!
  BENCH_PIDS+=("$pid")
  wait_port "$port" "$pid" "sluice under callgrind" || die "$(tail -5 "$dir/log.$2")"
  : >"$dir/curlrc"
  for ((i = 0; i < $2; i++)); do
    printf 'url = "http://127.0.0.1:%s/v1/chat/completions"\noutput = "/dev/null"\n' "$port" \
      >>"$dir/curlrc"
  done
  local auth=()
  [[ -z ${BENCH_TOKEN:-} ]] || auth=(-H "Authorization: Bearer $BENCH_TOKEN")
  curl -s -H 'Expect:' -H 'Content-Type: application/json' "${auth[@]}" \
    --data-binary "@$BENCH_BODY" -w '%{http_code}\n' --config "$dir/curlrc" >"$dir/codes" || true
  [[ $(grep -c '^200$' "$dir/codes") == "$2" ]] || die "not every request was answered 200 ($1)"
  stop_process "$pid"
  callgrind_annotate "$dir/out.$2" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' |
    tr -d ,
}
