#!/usr/bin/env bash
# Sets up, builds (Release, build/) and starts the gateway:
#
#   scripts/run.sh                  the built-in default: 127.0.0.1:8080, mock provider
#   scripts/run.sh -c sluice.yaml   any `sluice serve` arguments
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
scripts/setup-deps.sh
generator=()
[[ -f $BUILD_DIR/CMakeCache.txt ]] || generator=(-G Ninja)
cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"${JOBS:-2}" --target sluice
exec "$BUILD_DIR/sluice" serve "$@"
