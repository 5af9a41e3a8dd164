#!/usr/bin/env bash
# The plugin SDK end to end, as a user would use it:
#   1. install the SDK from this build into a fresh prefix (component sdk);
#   2. copy sdk/template and build it out of tree against that prefix only;
#   3. check the .so exports exactly sluice_plugin_entry;
#   4. load it through a minimal host and drive its guardrail;
#   5. when the sluice binary is built: `sluice validate` and `sluice plugins`
#      on a manifest that loads it by path and uses it as a guardrail (a typo
#      in its config must fail validation), then `sluice serve` with it: a
#      request with a keyword is blocked, one without passes, and a streamed
#      answer that spells a keyword across chunks ends in a block.
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
  echo "no sluice binary at '${SLUICE_BIN:-}': skipped validate, plugins and serve"
  echo "sdk template: ok"
  exit 0
fi

free_port() {
  local candidate
  for _ in $(seq 100); do
    candidate=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  fail "no free port"
}
port=$(free_port)
admin_port=$(free_port)

manifest() { # manifest FILE GUARD_CONFIG
  cat >"$1" <<YAML
version: 1
server:
  listen: ["127.0.0.1:$port"]
  workers: 1
plugins:
  - {name: my-guard, path: $so, version: "^1"}
admin:
  listen: "127.0.0.1:$admin_port"
providers:
  - {name: mock, type: mock, models: [gpt-4o-mini], reply: "one Top Sec", chunks: 3}
  - {name: leaky, type: mock, models: [gpt-4o-mini], reply: "the top secret is out", chunks: 5}
guardrails:
  - {name: example, plugin: my-guard, operation: validate, mode: enforce, config: $2}
guardrail_rules:
  - llm_input: [example]
    llm_output: [example]
YAML
}
manifest "$work/good.yaml" "{keywords: [forbidden, top secret], log_checks: true}"
run "$work/validate.log" "$SLUICE_BIN" validate -c "$work/good.yaml"
run "$work/plugins.log" "$SLUICE_BIN" plugins -c "$work/good.yaml"
grep -q '^my-guard .*guardrail' "$work/plugins.log" || {
  cat "$work/plugins.log" >&2
  fail "'sluice plugins -c' does not list the guardrail my-guard"
}
grep '^my-guard ' "$work/plugins.log"

manifest "$work/typo.yaml" "{keywords: [x], log_checks: true, log_chekcs: false}"
if "$SLUICE_BIN" validate -c "$work/typo.yaml" >"$work/typo.log" 2>&1; then
  fail "sluice validate accepted an unknown key in the plugin's config"
fi
grep -q 'log_chekcs' "$work/typo.log" || {
  cat "$work/typo.log" >&2
  fail "the validation error does not name the unknown key log_chekcs"
}
echo "sluice validate rejects a typo: $(grep -m1 'log_chekcs' "$work/typo.log")"

# Serve with it: the guardrail built out of tree blocks what it should.
"$SLUICE_BIN" serve -c "$work/good.yaml" >"$work/serve.log" 2>&1 &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; rm -rf "$work"' EXIT
ready=
for _ in $(seq 200); do  # 20 s at most
  if curl -sf "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1; then
    ready=1
    break
  fi
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n $ready ]] || {
  cat "$work/serve.log" >&2
  fail "sluice serve with the plugin did not become ready"
}
chat() { # chat MODEL TEXT [STREAM]: prints the status line, then the body
  curl -s -o "$work/body" -w '%{http_code}\n' "http://127.0.0.1:$port/v1/chat/completions" \
    -H 'Content-Type: application/json' \
    -d "{\"model\": \"$1\", \"stream\": ${3:-false}, \"messages\": [{\"role\": \"user\", \"content\": \"$2\"}]}"
  cat "$work/body"
}
out=$(chat mock/gpt-4o-mini "is this Forbidden?")
[[ $(head -1 <<<"$out") == 400 ]] || fail "a keyword did not block: $out"
grep -q '"code":"guardrail_blocked"' <<<"$out" || fail "no guardrail_blocked code: $out"
grep -q "guardrail 'example' blocked this request: 1 blocked keyword(s)" <<<"$out" ||
  fail "the block does not name the guardrail and its reason: $out"
echo "a keyword is blocked: $(tail -1 <<<"$out")"
out=$(chat mock/gpt-4o-mini "hello")
[[ $(head -1 <<<"$out") == 200 ]] || fail "clean text did not pass: $out"
grep -q 'one Top Sec' <<<"$out" || fail "unexpected answer: $out"
out=$(chat leaky/gpt-4o-mini "tell me" true)
grep -q '"code":"guardrail_blocked"' <<<"$out" || fail "a keyword across stream chunks was not blocked: $out"
if grep -qi 'top sec' <<<"$out"; then fail "part of the keyword reached the client: $out"; fi
echo "a keyword spelt across stream chunks is blocked before any of it is sent"

echo "sdk template: ok"
