#!/usr/bin/env bash
# Installs what Sluice needs from Debian packages. Safe to run again: it only
# calls apt-get when a package is missing, and sudo only when not root.
#
#   scripts/setup-deps.sh          build and run (compiler, CMake, libraries, GoogleTest, curl)
#   scripts/setup-deps.sh --test   + the test tools: Node.js/npm (and `npm ci` in
#                                  tests/e2e), clang with libFuzzer, redis-server,
#                                  clickhouse-server, prometheus, chromium
#   scripts/setup-deps.sh --bench  + the benchmark tools: wrk, nginx, valgrind, Node.js
#
# Flags combine: scripts/setup-deps.sh --test --bench
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
want_test=0
want_bench=0
for arg in "$@"; do
  case $arg in
    --test) want_test=1 ;;
    --bench) want_bench=1 ;;
    -h | --help)
      sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "setup-deps: unknown option $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

# GoogleTest is in the base set because the default configure builds the tests.
packages=(build-essential cmake ninja-build pkg-config libuv1-dev libcjson-dev libyaml-cpp-dev
  libssl-dev liblua5.4-dev node-llhttp libhiredis-dev libsqlite3-dev libre2-dev libgtest-dev
  libgmock-dev curl)
need_node=0
if ((want_test)); then
  # The sinks' suites run the real servers: ClickHouse, Prometheus, and
  # Chromium for the dashboard (driven by playwright-core from npm).
  packages+=(clang libclang-rt-14-dev redis-server clickhouse-server prometheus chromium)
  need_node=1
fi
if ((want_bench)); then
  packages+=(wrk nginx-light valgrind)  # valgrind: bench/routing.sh counts instructions
  need_node=1
fi

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for pkg in "${packages[@]}"; do
  if ! installed "$pkg" && [[ " ${missing[*]} " != *" $pkg "* ]]; then
    missing+=("$pkg")
  fi
done
# Node may come from elsewhere than Debian (nodesource, nvm): use what is on PATH.
if ((need_node)); then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi

if ((${#missing[@]})); then
  sudo=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "setup-deps: need root or sudo to install: ${missing[*]}" >&2
      exit 1
    }
    sudo=(sudo)
  fi
  echo "setup-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup-deps: all Debian packages present"
fi

# The e2e suite's npm packages, installed again only when the lock file changed.
if ((want_test)) && [[ -f $ROOT/tests/e2e/package.json ]]; then
  e2e=$ROOT/tests/e2e
  if [[ -f $e2e/package-lock.json ]]; then
    stamp=$e2e/node_modules/.sluice-lock.sha256
    sum=$(sha256sum "$e2e/package-lock.json" | cut -d' ' -f1)
    if [[ ! -f $stamp || $(<"$stamp") != "$sum" ]]; then
      echo "setup-deps: npm ci in tests/e2e"
      (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error)
      echo "$sum" >"$stamp"
    else
      echo "setup-deps: tests/e2e/node_modules up to date"
    fi
  else
    echo "setup-deps: npm install in tests/e2e (no package-lock.json yet)"
    (cd "$e2e" && npm install --no-audit --no-fund --loglevel=error)
  fi
fi
