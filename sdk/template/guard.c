/*
 * my-guard: a Sluice guardrail plugin to copy and fill in.
 *
 * As shipped it blocks text that contains one of its `keywords` (a topic
 * filter in a few lines). Your inspection goes in guard_check(); the config
 * keys your guardrail accepts go in kConfig; rename PLUGIN_NAME (the name
 * manifests use) and the target in CMakeLists.txt.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <sluice/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLUGIN_NAME "my-guard"

#ifndef MY_GUARD_VERSION
#define MY_GUARD_VERSION "0.0.0"
#endif

/* The keys accepted under `config:` in the manifest's guardrail entry. Sluice
 * checks types, bounds, required keys and unknown keys against this table
 * before create() runs (so a typo fails `sluice validate`) and fills in the
 * defaults. Terminated by an entry whose name is NULL. */
static const sluice_config_key kConfig[] = {
    {.name = "keywords",
     .type = SLUICE_CFG_STRING_LIST,
     .flags = SLUICE_CFG_REQUIRED,
     .description = "Words or phrases that block the text (matched case-insensitively)."},
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
  char** keywords; /* lower-cased */
  size_t keyword_count;
} guard;

static void guard_destroy(void* instance);

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
  /* The schema guarantees a list of strings; what it cannot say, we check. */
  const cJSON* words = cJSON_GetObjectItemCaseSensitive(config, "keywords");
  g->keywords = calloc((size_t)cJSON_GetArraySize(words) + 1, sizeof(char*));
  const cJSON* w;
  cJSON_ArrayForEach(w, words) {
    size_t n = strlen(w->valuestring);
    if (n == 0) {
      snprintf(err, err_len, "keywords[%zu] is empty", g->keyword_count);
      cJSON_Delete(config);
      guard_destroy(g);
      return SLUICE_ERR_CONFIG;
    }
    char* lower = malloc(n + 1);
    for (size_t i = 0; i <= n; i++) lower[i] = (char)tolower((unsigned char)w->valuestring[i]);
    g->keywords[g->keyword_count++] = lower;
  }
  cJSON_Delete(config);
  if (g->keyword_count == 0) {
    snprintf(err, err_len, "keywords must name at least one word");
    guard_destroy(g);
    return SLUICE_ERR_CONFIG;
  }
  *instance = g;
  return SLUICE_OK;
}

static void guard_destroy(void* instance) {
  guard* g = instance;
  for (size_t i = 0; i < g->keyword_count; i++) free(g->keywords[i]);
  free(g->keywords);
  free(g);
}

/* Occurrences of the lower-case `word` in `text`, ignoring case. */
static unsigned count_word(sluice_str text, const char* word) {
  size_t n = strlen(word);
  unsigned found = 0;
  for (size_t i = 0; i + n <= text.len; i++) {
    size_t j = 0;
    while (j < n && tolower((unsigned char)text.ptr[i + j]) == (unsigned char)word[j]) j++;
    if (j == n) {
      found++;
      i += n - 1;
    }
  }
  return found;
}


/* The longest end of `text` that is the start of a keyword (but not all of
 * it): more text may complete it. */
static size_t held_prefix(const guard* g, sluice_str text) {
  size_t best = 0;
  for (size_t k = 0; k < g->keyword_count; k++) {
    size_t n = strlen(g->keywords[k]);
    for (size_t len = n - 1; len > best; len--) {
      if (len > text.len) continue;
      size_t j = 0;
      const char* tail = text.ptr + text.len - len;
      while (j < len && tolower((unsigned char)tail[j]) == (unsigned char)g->keywords[k][j]) j++;
      if (j == len) {
        best = len;
        break;
      }
    }
  }
  return best;
}

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
   * MCP tool hooks, a tool call's arguments); like every sluice_str it is a
   * pointer and a length, not NUL-terminated, and valid only during this call.
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
  /* What a call answers with must outlive the call: one set per thread. */
  static _Thread_local sluice_finding finding;
  static _Thread_local char reason[64];
  unsigned hits = 0;
  for (size_t i = 0; i < g->keyword_count; i++) hits += count_word(in->content, g->keywords[i]);
  result->verdict = hits ? SLUICE_VERDICT_BLOCK : SLUICE_VERDICT_PASS;
  result->reason = (sluice_str){NULL, 0};
  result->content = (sluice_str){NULL, 0};
  result->findings = NULL;
  result->finding_count = 0;
  if (hits) {
    /* The reason says why without repeating the text. */
    int n = snprintf(reason, sizeof reason, "%u blocked keyword(s)", hits);
    result->reason = (sluice_str){reason, (size_t)n};
    finding = (sluice_finding){{"KEYWORD", 7}, hits, {"block", 5}};
    result->findings = &finding;
    result->finding_count = 1;
  }
  /* On a stream the text comes in windows: hold back an end that could still
   * become a keyword, so "forbid" + "den" is caught whole. (ABI 1.1 field:
   * present when the host's result is that big.) */
  if (result->struct_size >= sizeof *result) result->hold_bytes = held_prefix(g, in->content);
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
    .description = "Example guardrail: blocks text that contains one of its keywords.",
    .config = kConfig,
    .vtable = &kVtable,
};

/* The one symbol Sluice looks up. Everything else stays hidden. */
SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) { return &kDescriptor; }
