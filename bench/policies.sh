#!/usr/bin/env bash
# Cost of Lua policies: five on every request (bench/policies.yaml.template:
# the four shipped examples on on_request, plus bench/policy_hooks.lua on
# on_response and on_log) against none. bench/compare.sh does the measuring;
# its knobs apply (DURATION, ROUNDS, --callgrind).
exec env WITH="$(dirname "$0")/policies.yaml.template" LABEL=lua EXPECT='^x-bench-policy: 200$' \
  NOTE='4 on_request policies (scripts/lua/*.lua) + on_response + on_log (bench/policy_hooks.lua)' \
  "$(dirname "$0")/compare.sh" "$@"
