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
  CHECK(d->config && d->config[0].name && strcmp(d->config[0].name, "log_checks") == 0 &&
            d->config[0].type == SLUICE_CFG_BOOL && d->config[0].default_json &&
            strcmp(d->config[0].default_json, "false") == 0 && d->config[1].name == NULL,
        "config schema: expected exactly log_checks (bool, default false)");
  const sluice_guardrail_vtable* vt = d->vtable;
  if (!vt || vt->struct_size < sizeof(sluice_guardrail_vtable) || !vt->create || !vt->destroy ||
      !vt->check || !vt->cancel) {
    fprintf(stderr, "FAIL incomplete guardrail vtable\n");
    return 1;
  }

  /* log_checks on: passes and logs one line per check */
  char err[256] = "";
  void* inst = NULL;
  int rc = vt->create(&kHost, "{\"log_checks\":true}", &inst, err, sizeof err);
  CHECK(rc == SLUICE_OK && inst, "create(log_checks=true) = %d: %s", rc, err);
  if (rc == SLUICE_OK) {
    int status;
    sluice_guard_result res = run_check(vt, inst, "hello", &status);
    CHECK(status == SLUICE_OK, "check status %d", status);
    CHECK(res.verdict == SLUICE_VERDICT_PASS, "verdict %d", (int)res.verdict);
    CHECK(res.finding_count == 0, "finding_count %zu", res.finding_count);
    CHECK(res.reason.len == 0 && res.content.len == 0, "reason/content set on PASS");
    CHECK(g_log_calls == 1, "log calls %d, want 1", g_log_calls);
    CHECK(strcmp(g_last_log, "my-guard: llm_input: 5 bytes for mock/gpt-4o-mini") == 0,
          "log line '%s'", g_last_log);
    vt->destroy(inst);
  }

  /* log_checks off (the default): passes silently */
  inst = NULL;
  rc = vt->create(&kHost, "{\"log_checks\":false}", &inst, err, sizeof err);
  CHECK(rc == SLUICE_OK && inst, "create(log_checks=false) = %d: %s", rc, err);
  if (rc == SLUICE_OK) {
    int status;
    sluice_guard_result res = run_check(vt, inst, "anything at all", &status);
    CHECK(status == SLUICE_OK && res.verdict == SLUICE_VERDICT_PASS, "quiet check");
    CHECK(g_log_calls == 1, "log calls %d, want still 1", g_log_calls);
    vt->destroy(inst);
  }

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
