/*
 * my-guard: a Sluice guardrail plugin to copy and fill in.
 *
 * As shipped it passes everything. Your inspection goes in guard_check(); the
 * config keys your guardrail accepts go in kConfig; rename PLUGIN_NAME (the
 * name manifests use) and the target in CMakeLists.txt.
 */
#include <cjson/cJSON.h>
#include <sluice/plugin.h>
#include <stdio.h>
#include <stdlib.h>

#define PLUGIN_NAME "my-guard"

#ifndef MY_GUARD_VERSION
#define MY_GUARD_VERSION "0.0.0"
#endif

/* The keys accepted under `config:` in the manifest's guardrail entry. Sluice
 * checks types, bounds, required keys and unknown keys against this table
 * before create() runs (so a typo fails `sluice validate`) and fills in the
 * defaults. Terminated by an entry whose name is NULL. */
static const sluice_config_key kConfig[] = {
    {.name = "log_checks",
     .type = SLUICE_CFG_BOOL,
     .default_json = "false",
     .description = "Log one line per check (hook and content size), for debugging."},
    {.name = NULL},
};

/* One instance serves every worker thread at once: keep it read-only after
 * create(), or protect what changes. */
typedef struct guard {
  const sluice_host* host;
  int log_checks;
} guard;

static int guard_create(const sluice_host* host, const char* config_json, void** instance,
                        char* err, size_t err_len) {
  cJSON* config = cJSON_Parse(config_json ? config_json : "{}");
  if (!config) {
    snprintf(err, err_len, "config is not valid JSON");
    return SLUICE_ERR_CONFIG;
  }
  guard* g = calloc(1, sizeof *g);
  if (!g) {
    cJSON_Delete(config);
    snprintf(err, err_len, "out of memory");
    return SLUICE_ERR;
  }
  g->host = host;
  g->log_checks = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(config, "log_checks"));
  /* Read further keys here. Reject values the schema cannot express by
   * returning SLUICE_ERR_CONFIG with a message in err. */
  cJSON_Delete(config);
  *instance = g;
  return SLUICE_OK;
}

static void guard_destroy(void* instance) { free(instance); }

static const char* hook_name(sluice_hook hook) {
  switch (hook) {
    case SLUICE_HOOK_LLM_INPUT:
      return "llm_input";
    case SLUICE_HOOK_LLM_OUTPUT:
      return "llm_output";
    case SLUICE_HOOK_MCP_PRE_TOOL:
      return "mcp_pre_tool";
    case SLUICE_HOOK_MCP_POST_TOOL:
      return "mcp_post_tool";
  }
  return "unknown";
}

/* Called on a worker's event loop for every hook this guardrail is attached
 * to: never block here (no sleeping, no blocking I/O). */
static int guard_check(void* instance, const sluice_guard_input* in, sluice_guard_result* result) {
  guard* g = instance;
  if (g->log_checks) {
    char line[128];
    snprintf(line, sizeof line, "%s: %zu bytes for %.*s", hook_name(in->hook), in->content.len,
             (int)in->model.len, in->model.ptr ? in->model.ptr : "");
    g->host->log(SLUICE_LOG_INFO, PLUGIN_NAME, line);
  }

  /*
   * Your logic goes here. in->content is the text under inspection (for the
   * MCP tool hooks, the call's JSON); like every sluice_str it is a pointer
   * and a length, not NUL-terminated, and valid only during this call.
   *
   *   Block:   result->verdict = SLUICE_VERDICT_BLOCK;
   *            result->reason = (sluice_str){"why, without the matched text", len};
   *   Rewrite: result->verdict = SLUICE_VERDICT_MUTATE;
   *            result->content = the new text, in memory that stays valid until
   *            the next call on this instance from the same worker;
   *   Report:  result->findings / finding_count: what was found (a type such as
   *            "EMAIL" and a count, never the value), for the audit log.
   *   Wait:    to ask an outside service, start g->host->http_request(in->worker,
   *            ...) and return SLUICE_PENDING; its callback then calls
   *            in->done(in->token, &result) exactly once. The host owns the
   *            timeout and calls guard_cancel() if it gives up.
   *
   * Whether a BLOCK stops the request is the manifest's `mode` (audit,
   * enforce, strict), not the plugin's choice.
   */
  result->verdict = SLUICE_VERDICT_PASS;
  result->reason = (sluice_str){NULL, 0};
  result->content = (sluice_str){NULL, 0};
  result->findings = NULL;
  result->finding_count = 0;
  return SLUICE_OK;
}

/* The host gave up on a PENDING check: cancel its HTTP call or timer. This
 * guardrail never returns PENDING, so there is nothing to cancel. */
static void guard_cancel(void* instance, void* token) {
  (void)instance;
  (void)token;
}

static const sluice_guardrail_vtable kVtable = {
    .struct_size = sizeof(sluice_guardrail_vtable),
    .create = guard_create,
    .destroy = guard_destroy,
    .check = guard_check,
    .cancel = guard_cancel,
};

static const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    .kind = SLUICE_KIND_GUARDRAIL,
    .name = PLUGIN_NAME,
    .version = MY_GUARD_VERSION,
    .description = "Example guardrail: passes everything.",
    .config = kConfig,
    .vtable = &kVtable,
};

/* The one symbol Sluice looks up. Everything else stays hidden. */
SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) { return &kDescriptor; }
