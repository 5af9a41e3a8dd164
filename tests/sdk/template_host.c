/*
 * A minimal host for the SDK template test: loads a built template plugin the
 * way Sluice does (dlopen, sluice_plugin_entry, descriptor checks) and drives
 * its guardrail vtable with a recording host table.
 *
 *   sdk_template_host PLUGIN.so NAME VERSION
 */
#include <dlfcn.h>
#include <sluice/plugin.h>
#include <stdio.h>
#include <string.h>

static int g_failures;
static int g_checks;
static int g_log_calls;
static char g_last_log[256];

#define CHECK(cond, ...)                                   \
  do {                                                     \
    g_checks++;                                            \
    if (!(cond)) {                                         \
      g_failures++;                                        \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fputc('\n', stderr);                                 \
    }                                                      \
  } while (0)

static void host_log(sluice_log_level level, const char* plugin, const char* message) {
  (void)level;
  g_log_calls++;
  snprintf(g_last_log, sizeof g_last_log, "%s: %s", plugin, message);
}
static uint64_t host_zero(void) { return 0; }
static void host_metric(const char* name, double value) {
  (void)name;
  (void)value;
}
static const char* host_secret(const char* ref) {
  (void)ref;
  return NULL;
}
static int64_t host_counter(const char* key, int64_t delta, uint32_t ttl) {
  (void)key;
  (void)ttl;
  return delta;
}

static const sluice_host kHost = {
    .struct_size = sizeof(sluice_host),
    .abi_minor = SLUICE_ABI_MINOR,
    .log = host_log,
    .now_ms = host_zero,
    .monotonic_ns = host_zero,
    .metric_add = host_metric,
    .metric_observe = host_metric,
    .secret = host_secret,
    .counter_add = host_counter,
};

static sluice_guard_result run_check(const sluice_guardrail_vtable* vt, void* inst,
                                     const char* text, int* status) {
  sluice_guard_input in = {.struct_size = sizeof in, .hook = SLUICE_HOOK_LLM_INPUT};
  in.content = (sluice_str){text, strlen(text)};
  in.model = (sluice_str){"mock/gpt-4o-mini", 16};
  sluice_guard_result res;
  memset(&res, 0xab, sizeof res); /* the plugin must set every field it answers with */
  res.struct_size = sizeof res;
  *status = vt->check(inst, &in, &res);
  return res;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s PLUGIN.so NAME VERSION\n", argv[0]);
    return 2;
  }
  void* handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    fprintf(stderr, "FAIL dlopen: %s\n", dlerror());
    return 1;
  }
  sluice_plugin_entry_fn entry = (sluice_plugin_entry_fn)dlsym(handle, SLUICE_PLUGIN_ENTRY_SYMBOL);
  if (!entry) {
    fprintf(stderr, "FAIL no %s in %s\n", SLUICE_PLUGIN_ENTRY_SYMBOL, argv[1]);
    return 1;
  }
  const sluice_plugin_descriptor* d = entry();
  if (!d) {
    fprintf(stderr, "FAIL sluice_plugin_entry returned NULL\n");
    return 1;
  }
  CHECK(d->magic == SLUICE_PLUGIN_MAGIC, "magic %#x", d->magic);
  CHECK(d->abi_major == SLUICE_ABI_MAJOR, "abi_major %u", d->abi_major);
  CHECK(d->abi_minor <= SLUICE_ABI_MINOR, "abi_minor %u", d->abi_minor);
  CHECK(d->struct_size == sizeof(sluice_plugin_descriptor), "struct_size %u", d->struct_size);
  CHECK(d->kind == SLUICE_KIND_GUARDRAIL, "kind %d", (int)d->kind);
  CHECK(d->name && strcmp(d->name, argv[2]) == 0, "name '%s'", d->name ? d->name : "(null)");
  CHECK(d->version && strcmp(d->version, argv[3]) == 0, "version '%s'",
        d->version ? d->version : "(null)");
  CHECK(d->config && d->config[0].name && strcmp(d->config[0].name, "keywords") == 0 &&
            d->config[0].type == SLUICE_CFG_STRING_LIST &&
            (d->config[0].flags & SLUICE_CFG_REQUIRED) && d->config[1].name &&
            strcmp(d->config[1].name, "log_checks") == 0 && d->config[1].type == SLUICE_CFG_BOOL &&
            d->config[1].default_json && strcmp(d->config[1].default_json, "false") == 0 &&
            d->config[2].name == NULL,
        "config schema: expected keywords (required string list), log_checks (bool, false)");
  const sluice_guardrail_vtable* vt = d->vtable;
  if (!vt || vt->struct_size < sizeof(sluice_guardrail_vtable) || !vt->create || !vt->destroy ||
      !vt->check || !vt->cancel) {
    fprintf(stderr, "FAIL incomplete guardrail vtable\n");
    return 1;
  }

  /* log_checks on: clean text passes and logs one line per check */
  char err[256] = "";
  void* inst = NULL;
  int rc = vt->create(&kHost, "{\"keywords\":[\"forbidden\",\"Top Secret\"],\"log_checks\":true}",
                      &inst, err, sizeof err);
  CHECK(rc == SLUICE_OK && inst, "create(keywords, log_checks=true) = %d: %s", rc, err);
  if (rc == SLUICE_OK) {
    int status;
    sluice_guard_result res = run_check(vt, inst, "hello", &status);
    CHECK(status == SLUICE_OK, "check status %d", status);
    CHECK(res.verdict == SLUICE_VERDICT_PASS, "verdict %d", (int)res.verdict);
    CHECK(res.finding_count == 0, "finding_count %zu", res.finding_count);
    CHECK(res.reason.len == 0 && res.content.len == 0, "reason/content set on PASS");
    CHECK(res.hold_bytes == 0, "hold_bytes %zu on clean text", res.hold_bytes);
    CHECK(g_log_calls == 1, "log calls %d, want 1", g_log_calls);
    CHECK(strcmp(g_last_log, "my-guard: llm_input: 5 bytes for mock/gpt-4o-mini") == 0,
          "log line '%s'", g_last_log);

    /* a keyword in any case blocks, with a reason that does not repeat it */
    res = run_check(vt, inst, "This is TOP SECRET, and forbidden.", &status);
    CHECK(status == SLUICE_OK && res.verdict == SLUICE_VERDICT_BLOCK, "verdict %d", (int)res.verdict);
    CHECK(res.reason.len == strlen("2 blocked keyword(s)") &&
              memcmp(res.reason.ptr, "2 blocked keyword(s)", res.reason.len) == 0,
          "reason '%.*s'", (int)res.reason.len, res.reason.ptr);
    CHECK(res.finding_count == 1 && res.findings[0].count == 2 && res.findings[0].type.len == 7 &&
              memcmp(res.findings[0].type.ptr, "KEYWORD", 7) == 0,
          "findings");

    /* the end of a window that may still become a keyword is held back */
    res = run_check(vt, inst, "and then top sec", &status);
    CHECK(res.verdict == SLUICE_VERDICT_PASS && res.hold_bytes == 7, "hold_bytes %zu, want 7",
          res.hold_bytes);
    vt->destroy(inst);
  }

  /* log_checks off (the default): checks silently */
  int logged = g_log_calls;
  inst = NULL;
  rc = vt->create(&kHost, "{\"keywords\":[\"x\"],\"log_checks\":false}", &inst, err, sizeof err);
  CHECK(rc == SLUICE_OK && inst, "create(log_checks=false) = %d: %s", rc, err);
  if (rc == SLUICE_OK) {
    int status;
    sluice_guard_result res = run_check(vt, inst, "anything at all", &status);
    CHECK(status == SLUICE_OK && res.verdict == SLUICE_VERDICT_PASS, "quiet check");
    CHECK(g_log_calls == logged, "log calls %d, want still %d", g_log_calls, logged);
    vt->destroy(inst);
  }

  /* keywords the schema cannot refuse are refused by create() */
  inst = NULL;
  rc = vt->create(&kHost, "{\"keywords\":[]}", &inst, err, sizeof err);
  CHECK(rc == SLUICE_ERR_CONFIG && strcmp(err, "keywords must name at least one word") == 0,
        "create(no keywords) = %d: '%s'", rc, err);
  rc = vt->create(&kHost, "{\"keywords\":[\"ok\",\"\"]}", &inst, err, sizeof err);
  CHECK(rc == SLUICE_ERR_CONFIG && strcmp(err, "keywords[1] is empty") == 0,
        "create(empty keyword) = %d: '%s'", rc, err);

  /* a config that is not JSON is refused with a message */
  inst = NULL;
  err[0] = '\0';
  rc = vt->create(&kHost, "{not json", &inst, err, sizeof err);
  CHECK(rc == SLUICE_ERR_CONFIG, "create(bad json) = %d, want SLUICE_ERR_CONFIG", rc);
  CHECK(strcmp(err, "config is not valid JSON") == 0, "error message '%s'", err);

  dlclose(handle);
  printf("template host: %d of %d checks passed\n", g_checks - g_failures, g_checks);
  return g_failures ? 1 : 0;
}
