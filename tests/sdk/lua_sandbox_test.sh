#!/usr/bin/env bash
# The Lua sandbox as the SDK ships it: install the SDK into a fresh prefix,
# build a small program out of tree with sluice_plugin_use_lua(), and check
# that it refuses an endless loop and io.
set -euo pipefail

: "${SLUICE_SOURCE_DIR:?}" "${SLUICE_BUILD_DIR:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

cmake --install "$SLUICE_BUILD_DIR" --prefix "$work/prefix" --component sdk >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; fail "install"; }
[[ -f $work/prefix/include/sluice/lua_sandbox.h ]] || fail "lua_sandbox.h not installed"

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S "$SLUICE_SOURCE_DIR/tests/sdk/lua_sandbox" -B "$work/build" "${generator[@]}" \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_C_COMPILER="${SDK_TEMPLATE_CC:-cc}" \
  >"$work/configure.log" 2>&1 || { cat "$work/configure.log" >&2; fail "configure"; }
cmake --build "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "build"; }

out=$("$work/build/sandbox_user")
expected="user.lua:1: instruction budget of 100000 exceeded
user.lua:1: attempt to index a nil value (global 'io')
ok"
[[ $out == "$expected" ]] || fail "unexpected output:
$out"
echo "ok: the installed sandbox stops an endless loop and has no io"
