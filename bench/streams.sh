#!/usr/bin/env bash
# Memory under many open streams: opens STREAMS (default 2,000) concurrent SSE
# chat streams through the gateway, against a mock upstream that sends one
# event per STREAM_DELAY_MS, and reports the gateway's VmRSS while all of them
# are open and flowing.
#
#   bench/streams.sh                  sluice (1 worker, core 0)
#   TARGET=nginx bench/streams.sh     the same through nginx, for comparison
#
# Needs node, nginx (for TARGET=nginx), taskset, and a build in BUILD_DIR.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

STREAMS=${STREAMS:-2000}
STREAM_DELAY_MS=${STREAM_DELAY_MS:-1000}
TARGET=${TARGET:-sluice}

for tool in node taskset cmake; do need "$tool"; done

ensure_configured || true
build_mock
# Long enough to outlast the measurement; the client closes them.
start_mock --chunks 3600 --delay-ms "$STREAM_DELAY_MS"

case $TARGET in
  sluice)
    build_sluice || die "sluice unavailable: $SLUICE_WHY"
    start_sluice || die "sluice did not start"
    PORT=$SLUICE_PORT PID=$SLUICE_PID
    ;;
  nginx)
    need nginx
    start_nginx || die "nginx did not start"
    PORT=$NGINX_PORT
    # The worker holds the connections, not the master.
    PID=$(pgrep -P "$NGINX_PID" | head -1)
    ;;
  direct) PORT=$MOCK_PORT PID=$MOCK_PID ;;
  *) die "unknown TARGET '$TARGET' (sluice, nginx, direct)" ;;
esac

if [[ $TARGET == direct ]]; then
  where="straight to the mock upstream on core $MOCK_CORE"
else
  where="$TARGET on core $GATEWAY_CORE, mock upstream on core $MOCK_CORE"
fi
echo "$where (one event per $STREAM_DELAY_MS ms); opening $STREAMS streams"
taskset -c "$WRK_CORE" node "$BENCH_ROOT/bench/stream_clients.mjs" \
  --url "http://127.0.0.1:$PORT/v1/chat/completions" --pid "$PID" --count "$STREAMS" \
  --body "$BENCH_ROOT/bench/chat-1k.json"
