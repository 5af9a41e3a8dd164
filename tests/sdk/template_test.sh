#!/usr/bin/env bash
# The plugin SDK end to end, as a user would use it:
#   1. install the SDK from this build into a fresh prefix (component sdk);
#   2. copy sdk/template and build it out of tree against that prefix only;
#   3. check the .so exports exactly sluice_plugin_entry;
#   4. load it through a minimal host and drive its guardrail;
#   5. when the sluice binary is built: `sluice validate` and `sluice plugins`
#      on a manifest that loads it by path and uses it as a guardrail (a typo
#      in its config must fail validation).
set -euo pipefail

: "${SLUICE_SOURCE_DIR:?}" "${SLUICE_BUILD_DIR:?}" "${SDK_TEMPLATE_HOST:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# run LOG CMD...: runs CMD with its output in LOG, shown only on failure.
run() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 || {
    cat "$log" >&2
    fail "$*"
  }
}

run "$work/install.log" cmake --install "$SLUICE_BUILD_DIR" --prefix "$work/prefix" --component sdk
[[ -f $work/prefix/include/sluice/plugin.h ]] || fail "plugin.h not installed"
[[ -f $work/prefix/lib/cmake/Sluice/SluiceConfig.cmake ]] || fail "SluiceConfig.cmake not installed"

cp -r "$SLUICE_SOURCE_DIR/sdk/template" "$work/src"
rm -rf "$work/src/build"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
run "$work/configure.log" cmake -S "$work/src" -B "$work/build" "${generator[@]}" \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON \
  ${SDK_TEMPLATE_CC:+-DCMAKE_C_COMPILER="$SDK_TEMPLATE_CC"}
sluice_dir=$(sed -n 's/^Sluice_DIR:PATH=//p' "$work/build/CMakeCache.txt")
[[ $sluice_dir == "$work/prefix/lib/cmake/Sluice" ]] ||
  fail "found the Sluice package at '$sluice_dir', not in the install prefix"
run "$work/build.log" cmake --build "$work/build"
so=$work/build/my_guard.so
[[ -f $so ]] || fail "no $so after the build"

exports=$(nm -D --defined-only "$so" | awk 'NF == 3 && $3 != "_init" && $3 != "_fini" { print $3 }')
[[ $exports == sluice_plugin_entry ]] ||
  fail "the plugin should export only sluice_plugin_entry, exports: ${exports//$'\n'/ }"
echo "my_guard.so built out of tree; exports: $exports"

"$SDK_TEMPLATE_HOST" "$so" my-guard 1.0.0

if [[ ! -x ${SLUICE_BIN:-} ]]; then
  echo "no sluice binary at '${SLUICE_BIN:-}': skipped validate and plugins"
  echo "sdk template: ok"
  exit 0
fi

port=
for _ in $(seq 100); do
  candidate=$((20000 + RANDOM % 40000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
    port=$candidate
    break
  fi
done
[[ -n $port ]] || fail "no free port"

manifest() { # manifest FILE GUARD_CONFIG
  cat >"$1" <<YAML
version: 1
server:
  listen: ["127.0.0.1:$port"]
  workers: 1
plugins:
  - {name: my-guard, path: $so, version: "^1"}
providers:
  - {name: mock, type: mock, models: [gpt-4o-mini]}
guardrails:
  - {name: example, plugin: my-guard, operation: validate, mode: enforce, config: $2}
guardrail_rules:
  - llm_input: [example]
    llm_output: [example]
YAML
}
manifest "$work/good.yaml" "{log_checks: true}"
run "$work/validate.log" "$SLUICE_BIN" validate -c "$work/good.yaml"
run "$work/plugins.log" "$SLUICE_BIN" plugins -c "$work/good.yaml"
grep -q '^my-guard .*guardrail' "$work/plugins.log" || {
  cat "$work/plugins.log" >&2
  fail "'sluice plugins -c' does not list the guardrail my-guard"
}
grep '^my-guard ' "$work/plugins.log"

manifest "$work/typo.yaml" "{log_checks: true, log_chekcs: false}"
if "$SLUICE_BIN" validate -c "$work/typo.yaml" >"$work/typo.log" 2>&1; then
  fail "sluice validate accepted an unknown key in the plugin's config"
fi
grep -q 'log_chekcs' "$work/typo.log" || {
  cat "$work/typo.log" >&2
  fail "the validation error does not name the unknown key log_chekcs"
}
echo "sluice validate rejects a typo: $(grep -m1 'log_chekcs' "$work/typo.log")"

echo "sdk template: ok"
