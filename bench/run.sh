#!/usr/bin/env bash
# Load benchmark: RPS and p50/p99 latency of chat completions sent straight to
# a local mock upstream, through nginx as a plain reverse proxy (the floor for
# one proxy hop), and through Sluice, each gateway alone on one core.
#
#   bench/run.sh                         all three, 10 s each
#   DURATION=30s CONNECTIONS=128 bench/run.sh
#   TARGETS="direct nginx" bench/run.sh  a subset
#
# Needs a Release build in BUILD_DIR (default build/; built here if needed),
# wrk, nginx, curl and taskset (scripts/setup-deps.sh --bench).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
TARGETS=${TARGETS:-direct nginx sluice}

for tool in wrk curl taskset cmake; do need "$tool"; done
[[ " $TARGETS " == *" nginx "* ]] && need nginx

ensure_configured || true
build_mock
if [[ " $TARGETS " == *" sluice "* ]]; then
  build_sluice || echo "bench: sluice unavailable: $SLUICE_WHY" >&2
fi

declare -A RPS P50 P99 ERRS NOTE

# measure NAME URL: a warm-up run, then the measured run.
measure() {
  local name=$1 url=$2 code out line
  code=$(preflight "$url")
  if [[ $code != 200 ]]; then
    NOTE[$name]="preflight answered HTTP $code: $(head -c 200 "$BENCH_WORK/preflight.body" 2>/dev/null)"
    return 0
  fi
  export BENCH_BODY=$BENCH_ROOT/bench/chat-1k.json
  taskset -c "$WRK_CORE" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" \
    -s "$BENCH_ROOT/bench/post.lua" "$url" >/dev/null
  out=$(taskset -c "$WRK_CORE" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
    -s "$BENCH_ROOT/bench/post.lua" "$url")
  echo "$out" >"$BENCH_WORK/wrk-$name.txt"
  line=$(grep '^BENCH ' <<<"$out") || {
    NOTE[$name]="wrk printed no summary"
    return 0
  }
  RPS[$name]=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$line")
  P50[$name]=$(sed -E 's/.* p50_us=([0-9]+).*/\1/' <<<"$line")
  P99[$name]=$(sed -E 's/.* p99_us=([0-9]+).*/\1/' <<<"$line")
  local non2xx sock
  non2xx=$(sed -E 's/.* non2xx=([0-9]+).*/\1/' <<<"$line")
  sock=$(sed -E 's/.* socket_errors=([0-9]+).*/\1/' <<<"$line")
  ERRS[$name]=$((non2xx + sock))
}

start_mock
for target in $TARGETS; do
  case $target in
    direct) measure direct "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" ;;
    nginx)
      if start_nginx; then
        measure nginx "http://127.0.0.1:$NGINX_PORT/v1/chat/completions"
      else
        NOTE[nginx]="nginx did not start"
      fi
      ;;
    sluice)
      if [[ -z ${SLUICE_BIN:-} ]]; then
        NOTE[sluice]="not built: $SLUICE_WHY"
      elif start_sluice; then
        measure sluice "http://127.0.0.1:$SLUICE_PORT/v1/chat/completions"
      else
        NOTE[sluice]="sluice did not start"
      fi
      ;;
    *) die "unknown target '$target' (direct, nginx, sluice)" ;;
  esac
done

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }

echo
echo "POST /v1/chat/completions, $(wc -c <"$BENCH_ROOT/bench/chat-1k.json") byte body;" \
  "wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a $WARMUP warm-up)"
echo "cores: nginx and sluice on core $GATEWAY_CORE (sluice with 1 worker)," \
  "mock upstream on core $MOCK_CORE, wrk on core $WRK_CORE"
if [[ $MOCK_CORE == "$WRK_CORE" ]]; then
  echo "note: with $NCPU cores the mock and wrk share core $MOCK_CORE, so 'direct' is bounded by" \
    "that core and every column carries the same load-generator cost"
fi
echo
printf '%-8s %12s %10s %10s %8s\n' target RPS "p50 ms" "p99 ms" errors
for target in $TARGETS; do
  if [[ -n ${RPS[$target]:-} ]]; then
    printf '%-8s %12.0f %10s %10s %8s\n' "$target" "${RPS[$target]}" "$(ms "${P50[$target]}")" \
      "$(ms "${P99[$target]}")" "${ERRS[$target]}"
  else
    printf '%-8s %s\n' "$target" "n/a (${NOTE[$target]:-not run})"
  fi
done
echo
for target in $TARGETS; do
  if [[ -n ${ERRS[$target]:-} && ${ERRS[$target]} != 0 ]]; then
    echo "warning: $target had ${ERRS[$target]} failed requests (non-2xx or socket errors);" \
      "its numbers are not comparable"
  fi
done
if [[ -n ${RPS[sluice]:-} && -n ${RPS[nginx]:-} ]]; then
  awk -v s="${RPS[sluice]}" -v n="${RPS[nginx]}" \
    'BEGIN { printf "sluice/nginx RPS = %.0f%%\n", 100 * s / n }'
fi
if [[ -n ${P99[direct]:-} ]]; then
  added=""
  for target in nginx sluice; do
    [[ -n ${P99[$target]:-} ]] || continue
    added+="${added:+, }$target $(awk -v a="${P99[$target]}" -v d="${P99[direct]}" \
      'BEGIN { printf "%+.2f ms", (a - d) / 1000 }')"
  done
  if [[ -n $added ]]; then
    ratio=""
    if [[ -n ${P99[sluice]:-} && -n ${P99[nginx]:-} ]]; then
      ratio=$(awk -v s="${P99[sluice]}" -v n="${P99[nginx]}" -v d="${P99[direct]}" \
        'BEGIN { if (n - d > 0) printf " (sluice/nginx = %.1fx)", (s - d) / (n - d) }')
    fi
    echo "added p99 over direct: $added$ratio"
  fi
fi
