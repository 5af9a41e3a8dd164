// CPU cost of the built-in scanning guardrails on one prompt: ns per check() for
// pii, secrets, prompt-injection and regex, alone and the first three together.
// Loads the built guardrails (build/plugins/guardrails/<name>.so) the way the gateway does.
//
//   cmake --build build --target bench_guardrails plugin_pii plugin_secrets \
//     plugin_prompt-injection plugin_regex
//   build/bench_guardrails [plugin-dir] [prompt.json]
//   build/bench_guardrails --injection N [plugin-dir] [prompt.json]
//   build/bench_guardrails --secrets N ... / --pii N ...
//
// --injection N only runs N prompt-injection checks of the clean prompt, untimed: for
// counting its instructions under callgrind (divide by N); --secrets and --pii the same for
// those.
//
// The prompt is the message texts of bench/chat-1k.json joined by a blank line
// (what the gateway hands a validate guardrail); a second run uses the same text
// with an e-mail, a phone number, a card number and an AWS key added.
#include <cjson/cJSON.h>
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sluice/plugin.h"

namespace {

struct Guard {
  std::string name;
  const sluice_guardrail_vtable* vt = nullptr;
  void* instance = nullptr;
};

bool load(const std::string& dir, const std::string& name, const char* config, Guard* g) {
  std::string path = dir + "/guardrails/" + name + ".so";
  void* so = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!so) {
    fprintf(stderr, "bench: %s\n", dlerror());
    return false;
  }
  auto entry = reinterpret_cast<sluice_plugin_entry_fn>(dlsym(so, SLUICE_PLUGIN_ENTRY_SYMBOL));
  if (!entry) return false;
  g->name = name;
  g->vt = static_cast<const sluice_guardrail_vtable*>(entry()->vtable);
  static sluice_host host{sizeof(sluice_host), SLUICE_ABI_MINOR};
  char err[256] = "";
  if (g->vt->create(&host, config, &g->instance, err, sizeof err) != SLUICE_OK) {
    fprintf(stderr, "bench: %s: %s\n", name.c_str(), err);
    return false;
  }
  return true;
}

// One request: check() then request_end(), as the gateway does for a validate hook.
sluice_verdict checkOnce(const Guard& g, const std::string& text) {
  void* state = nullptr;
  sluice_guard_input in{};
  in.struct_size = sizeof(in);
  in.hook = SLUICE_HOOK_LLM_INPUT;
  in.content = {text.data(), text.size()};
  in.request_state = &state;
  sluice_guard_result res{};
  res.struct_size = sizeof(res);
  g.vt->check(g.instance, &in, &res);
  if (state && g.vt->request_end) g.vt->request_end(g.instance, state);
  return res.verdict;
}

double nsPerCheck(const std::vector<const Guard*>& guards, const std::string& text) {
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < 2000; i++) {
    for (const Guard* g : guards) checkOnce(*g, text);
  }
  double best = 1e18;
  for (int round = 0; round < 30; round++) {  // the best round: least disturbed by neighbours
    const int n = 2000;
    auto start = Clock::now();
    for (int i = 0; i < n; i++) {
      for (const Guard* g : guards) checkOnce(*g, text);
    }
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / n;
    if (ns < best) best = ns;
  }
  return best;
}

std::string promptOf(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  cJSON* doc = cJSON_Parse(ss.str().c_str());
  std::string text;
  const cJSON* m = nullptr;
  cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(doc, "messages")) {
    const cJSON* c = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (!cJSON_IsString(c)) continue;
    if (!text.empty()) text += "\n\n";
    text += c->valuestring;
  }
  cJSON_Delete(doc);
  return text;
}

const char* verdictName(sluice_verdict v) {
  switch (v) {
    case SLUICE_VERDICT_PASS:
      return "pass";
    case SLUICE_VERDICT_BLOCK:
      return "block";
    case SLUICE_VERDICT_MUTATE:
      return "mutate";
    case SLUICE_VERDICT_FAIL:
      return "fail";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  std::string only;  // --injection N, --secrets N, --pii N: N untimed checks of one
  int only_checks = 0;
  if (argc > 2 && std::string(argv[1]).rfind("--", 0) == 0) {
    only = argv[1] + 2;
    only_checks = atoi(argv[2]);
    argc -= 2;
    argv += 2;
  }
  std::string dir = argc > 1 ? argv[1] : SLUICE_BENCH_PLUGIN_DIR;
  std::string prompt_path = argc > 2 ? argv[2] : SLUICE_BENCH_PROMPT;
  std::string clean = promptOf(prompt_path);
  if (clean.empty()) {
    fprintf(stderr, "bench: no messages in %s\n", prompt_path.c_str());
    return 1;
  }
  std::string dirty = clean +
                      "\n\nPS: reach me at jane.doe@example.com or +1 415 555 0100; card "
                      "4111 1111 1111 1111; key AKIAIOSFODNN7EXAMPLE.";
  Guard pii, secrets, injection, regex;
  if (!load(dir, "pii", R"({"action": "redact"})", &pii) ||
      !load(dir, "secrets", R"({"action": "redact"})", &secrets) ||
      !load(dir, "prompt-injection", "{}", &injection) ||
      !load(dir, "regex",
            R"({"deny": ["(?i)project\\s+falcon", "\\bsalar(y|ies)\\b", "(?i)internal only"]})",
            &regex)) {
    return 1;
  }
  if (!only.empty()) {
    const Guard* g = only == "injection" ? &injection
                     : only == "secrets" ? &secrets
                     : only == "pii"     ? &pii
                                         : nullptr;
    if (g == nullptr || only_checks <= 0) {
      fprintf(stderr, "bench: --injection, --secrets or --pii takes a count of checks\n");
      return 1;
    }
    for (int i = 0; i < only_checks; i++) checkOnce(*g, clean);
    printf("%s: %d checks of %zu bytes\n", g->name.c_str(), only_checks, clean.size());
    return 0;
  }
  printf("prompt: %zu bytes (%s), dirty: %zu bytes\n", clean.size(), prompt_path.c_str(),
         dirty.size());
  printf("%-34s %12s %12s %10s\n", "guardrail", "clean ns", "dirty ns", "verdicts");
  struct Row {
    const char* label;
    std::vector<const Guard*> guards;
  } rows[] = {
      {"pii", {&pii}},
      {"secrets", {&secrets}},
      {"prompt-injection", {&injection}},
      {"regex (3 deny patterns)", {&regex}},
      {"pii + secrets + prompt-injection", {&pii, &secrets, &injection}},
  };
  for (const Row& r : rows) {
    double a = nsPerCheck(r.guards, clean);
    double b = nsPerCheck(r.guards, dirty);
    std::string verdicts;
    for (const Guard* g : r.guards) {
      verdicts += std::string(verdicts.empty() ? "" : "/") + verdictName(checkOnce(*g, clean)) +
                  ":" + verdictName(checkOnce(*g, dirty));
    }
    printf("%-34s %12.0f %12.0f %10s\n", r.label, a, b, verdicts.c_str());
  }
  return 0;
}
