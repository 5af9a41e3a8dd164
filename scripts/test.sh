#!/usr/bin/env bash
# Sets up, builds and runs every test suite (unit, plugins, SDK, e2e):
#
#   scripts/test.sh
#
# Knobs (environment): BUILD_DIR (default build), BUILD_TYPE (Release),
# CMAKE_ARGS (extra cmake arguments, e.g. -DSLUICE_SANITIZE=ON), JOBS (2),
# SKIP_SETUP=1 (do not run setup-deps.sh). ctest's summary is the last output.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-Release}
JOBS=${JOBS:-2}
read -r -a extra <<<"${CMAKE_ARGS:-}"

if [[ ${SKIP_SETUP:-0} != 1 ]]; then
  scripts/setup-deps.sh --test
fi
generator=()
[[ -f $BUILD_DIR/CMakeCache.txt ]] || generator=(-G Ninja)
cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DSLUICE_TESTS=ON \
  "${extra[@]}"
cmake --build "$BUILD_DIR" -j"$JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error -j"$JOBS"
