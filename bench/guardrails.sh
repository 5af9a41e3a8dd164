#!/usr/bin/env bash
# Cost of the built-in guardrails on a 1 KB prompt: pii (mutate, redact),
# secrets and prompt-injection (validate) on llm_input of every request
# (bench/guardrails.yaml.template) against none. bench/compare.sh does the
# measuring; its knobs apply (DURATION, ROUNDS, --callgrind).
# bench_guardrails (bench/guardrails_scan.cc) times each scanner alone.
exec env WITH="$(dirname "$0")/guardrails.yaml.template" LABEL=guarded \
  EXPECT='^x-sluice-applied-rules: bench-guards$' \
  NOTE='pii (mutate) + secrets + prompt-injection (validate) on llm_input, bench/chat-1k.json' \
  "$(dirname "$0")/compare.sh" "$@"
