/*
 * sluice/plugin.h — the Sluice plugin ABI.
 *
 * Pure C. A plugin is a shared object exporting one function,
 *
 *     const sluice_plugin_descriptor* sluice_plugin_entry(void);
 *
 * that returns a static descriptor. The host checks, in this order: the magic,
 * the ABI major (must equal the host's), the ABI minor (must not be newer than
 * the host's), the descriptor's struct_size, the kind, the name, and the
 * plugin's own version against the manifest's constraint. Then it validates the
 * plugin's manifest block against the declared config schema, and only then
 * calls the kind's create().
 *
 * Rules that keep the ABI stable:
 *   - Kind numbers are fixed and never reused.
 *   - Every struct the host hands out or receives starts with struct_size, so
 *     either side can tell which fields the other knows.
 *   - The host-services table (sluice_host) is append-only: new entries go at
 *     the end, grouped by the ABI minor that added them.
 *   - Strings are (pointer, length) pairs and are not NUL-terminated unless a
 *     field says so. Memory handed to a callback is valid only during it.
 *
 * Changelog
 *   1.0  First stable ABI: descriptor, config schema, host services (log,
 *        clock, metrics, timers, secrets, counters, async HTTP), provider,
 *        routing, guardrail and sink kinds.
 *   1.1  Guardrails: sluice_guard_input gains request_id and request_state
 *        (per-request memory across calls, e.g. placeholder numbering over a
 *        stream's windows); the vtable gains request_end() to release it;
 *        sluice_guard_result gains hold_bytes for stream hold-back.
 *   1.1  Routing: sluice_target_stats gains sla_tpot_ms and tpot_samples_3m;
 *        order() is documented as called from every worker thread at once.
 *        Sinks: sluice_record_batch gains `views` (each record's fields as a
 *        sluice_record, no JSON parse needed); the vtable gains attach() (the
 *        sink thread's loop, for timers and HTTP), event() (kernel events such
 *        as budget thresholds), query() (answers admin reads: /metrics,
 *        /admin/requests, /admin/analytics) and dropped().
 *   1.2  Sinks: sluice_record gains `attempts` (each try: target, status,
 *        error, duration) and the logged bodies, so the views hold the whole
 *        record; the vtable gains `flags`, where SLUICE_SINK_VIEWS_ONLY says
 *        the sink reads the views only and needs no JSON built for it.
 */
#ifndef SLUICE_PLUGIN_H
#define SLUICE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_PLUGIN_MAGIC 0x534c5543u /* "SLUC" */
#define SLUICE_ABI_MAJOR 1
#define SLUICE_ABI_MINOR 2

#if defined(__GNUC__)
#define SLUICE_EXPORT __attribute__((visibility("default")))
#else
#define SLUICE_EXPORT
#endif

/* Plugin kinds. Numbers are part of the ABI and never reused. */
typedef enum sluice_kind {
  SLUICE_KIND_PROVIDER = 1,
  SLUICE_KIND_ROUTING = 2,
  SLUICE_KIND_GUARDRAIL = 3,
  SLUICE_KIND_SINK = 4
} sluice_kind;

/* Results of plugin calls. Errors are negative. */
typedef enum sluice_status {
  SLUICE_OK = 0,
  SLUICE_PENDING = 1, /* the answer comes later through a callback */
  SLUICE_ERR = -1,
  SLUICE_ERR_CONFIG = -2,
  SLUICE_ERR_UNSUPPORTED = -3,
  SLUICE_ERR_PROTOCOL = -4
} sluice_status;

typedef struct sluice_str {
  const char* ptr;
  size_t len;
} sluice_str;

typedef struct sluice_header {
  sluice_str name;
  sluice_str value;
} sluice_header;

/* ------------------------------------------------------------------------ */
/* Config schema: each plugin declares its keys; the host validates the
 * plugin's manifest block against it (types, required keys, bounds, enums,
 * unknown keys) before create() sees it, and fills in defaults. */

typedef enum sluice_config_type {
  SLUICE_CFG_STRING = 1,
  SLUICE_CFG_INT = 2,
  SLUICE_CFG_NUMBER = 3,
  SLUICE_CFG_BOOL = 4,
  SLUICE_CFG_OBJECT = 5,      /* keys given by `children` */
  SLUICE_CFG_STRING_LIST = 6, /* array of strings */
  SLUICE_CFG_ANY = 7          /* any JSON value; the plugin checks it */
} sluice_config_type;

#define SLUICE_CFG_REQUIRED 0x1u /* key must be present */
#define SLUICE_CFG_SECRET 0x2u   /* value never printed (logs, errors, admin) */

typedef struct sluice_config_key {
  const char* name;
  sluice_config_type type;
  uint32_t flags;
  const char* default_json;  /* JSON text of the default, or NULL */
  double min, max;           /* bounds for INT/NUMBER when min < max */
  const char* const* enum_values; /* NULL-terminated; STRING only; or NULL */
  const struct sluice_config_key* children; /* OBJECT: terminated by name==NULL */
  const char* description;
} sluice_config_key;

/* ------------------------------------------------------------------------ */
/* Host services, handed to every plugin's create(). Append-only. */

typedef enum sluice_log_level {
  SLUICE_LOG_DEBUG = 0,
  SLUICE_LOG_INFO = 1,
  SLUICE_LOG_WARN = 2,
  SLUICE_LOG_ERROR = 3
} sluice_log_level;

typedef struct sluice_timer sluice_timer;
typedef struct sluice_http_call sluice_http_call;
typedef struct sluice_worker sluice_worker; /* the loop a call runs on */

typedef void (*sluice_timer_cb)(void* user);

/* An outgoing HTTP request made through the host's client (the worker's
 * loop, its connection pools, DNS cache and TLS settings). */
typedef struct sluice_http_request {
  uint32_t struct_size;
  sluice_str method;
  sluice_str url; /* absolute http:// or https:// URL */
  const sluice_header* headers;
  size_t header_count;
  sluice_str body;
  uint32_t timeout_ms; /* total; 0 = host default */
} sluice_http_request;

typedef struct sluice_http_response {
  uint32_t struct_size;
  int status;      /* HTTP status, or 0 when the call failed */
  sluice_str error; /* why the call failed (status 0), else empty */
  const sluice_header* headers;
  size_t header_count;
  sluice_str body;
} sluice_http_response;

typedef void (*sluice_http_cb)(void* user, const sluice_http_response* res);

typedef struct sluice_host {
  uint32_t struct_size;
  uint32_t abi_minor; /* the host's ABI minor */

  /* -- 1.0 -- */
  void (*log)(sluice_log_level level, const char* plugin, const char* message);
  uint64_t (*now_ms)(void);          /* wall clock, Unix epoch ms */
  uint64_t (*monotonic_ns)(void);    /* monotonic clock */
  void (*metric_add)(const char* name, double value);     /* counter */
  void (*metric_observe)(const char* name, double value); /* histogram */
  /* Resolves a secret reference ("env:NAME" or "file:/path"); the returned
   * string lives until the plugin is destroyed. NULL when missing. */
  const char* (*secret)(const char* ref);
  /* Shared counters (memory or redis, per the manifest's state backend). */
  int64_t (*counter_add)(const char* key, int64_t delta, uint32_t ttl_seconds);
  /* Timers and HTTP run on `worker`'s loop and call back on it. A timer is
   * released once its callback returns: cancel it only before it fires. */
  sluice_timer* (*timer_start)(sluice_worker* worker, uint64_t delay_ms, sluice_timer_cb cb,
                               void* user);
  void (*timer_cancel)(sluice_timer* timer);
  sluice_http_call* (*http_request)(sluice_worker* worker, const sluice_http_request* req,
                                    sluice_http_cb cb, void* user);
  void (*http_cancel)(sluice_http_call* call); /* cb is not called after this */
} sluice_host;

/* ------------------------------------------------------------------------ */
/* Provider kind: canonical (OpenAI Chat Completions JSON) <-> native HTTP. */

typedef enum sluice_endpoint {
  SLUICE_EP_CHAT = 1,
  SLUICE_EP_COMPLETIONS = 2,
  SLUICE_EP_EMBEDDINGS = 3,
  SLUICE_EP_MODELS = 4,
  SLUICE_EP_IMAGES_GENERATIONS = 5,
  SLUICE_EP_IMAGES_EDITS = 6,
  SLUICE_EP_AUDIO_TRANSCRIPTIONS = 7,
  SLUICE_EP_AUDIO_TRANSLATIONS = 8,
  SLUICE_EP_AUDIO_SPEECH = 9,
  SLUICE_EP_RERANK = 10,
  SLUICE_EP_MODERATIONS = 11
} sluice_endpoint;

/* What the kernel asks a provider to send. The body is canonical JSON whose
 * "model" is already the upstream model name and, for streams, asks for
 * usage (stream_options.include_usage). */
typedef struct sluice_provider_call {
  uint32_t struct_size;
  sluice_endpoint endpoint;
  sluice_str model; /* upstream model name */
  int stream;       /* 1 when the client asked for SSE */
  sluice_str body;  /* canonical request JSON */
  sluice_worker* worker;
  sluice_str request_id;
} sluice_provider_call;

/* What the provider wants sent. Fields it sets point into memory it owns
 * (the instance, or `scratch` below) and must stay valid until the call ends. */
typedef struct sluice_upstream_request {
  uint32_t struct_size;
  sluice_str method;
  sluice_str url; /* absolute URL */
  sluice_header headers[16];
  size_t header_count;
  sluice_str body; /* empty: send the call's body unchanged */
  /* Set by a provider that answers without the network (mock): the kernel
   * then calls local_respond() instead of sending anything. */
  int local;
} sluice_upstream_request;

/* Where a provider's decoders put canonical output. */
typedef struct sluice_emitter {
  void* ctx;
  /* One canonical chat.completion.chunk JSON object (no SSE framing). */
  void (*chunk)(void* ctx, const char* json, size_t len);
  /* Token usage seen in the native stream or body. */
  void (*usage)(void* ctx, int64_t prompt_tokens, int64_t completion_tokens,
                int64_t cached_tokens);
} sluice_emitter;

/* For providers that answer locally: the kernel's side of the response. */
typedef struct sluice_local_response {
  void* ctx;
  void (*start)(void* ctx, int status, const char* content_type);
  void (*write)(void* ctx, const char* data, size_t len); /* native body bytes */
  void (*finish)(void* ctx);
} sluice_local_response;

typedef struct sluice_provider_vtable {
  uint32_t struct_size;
  /* config_json is the provider's manifest block as JSON, already checked
   * against the schema, defaults filled. */
  int (*create)(const sluice_host* host, const char* config_json, void** instance, char* err,
                size_t err_len);
  void (*destroy)(void* instance);
  /* Fills `out` for `call`. May return SLUICE_ERR_UNSUPPORTED for an
   * endpoint the provider does not serve. The plugin may set *call_state to
   * per-call memory (strings `out` points into, decoder state); the kernel
   * hands it to the decoders and releases it through call_end(). */
  int (*build_request)(void* instance, const sluice_provider_call* call,
                       sluice_upstream_request* out, void** call_state);
  /* Native non-streaming body -> canonical body. Writes through emit->chunk
   * once with the whole canonical response object and reports usage through
   * emit->usage. Emitting no chunk (or NULL here) means the native body is
   * already canonical: it passes through with its own content type. */
  int (*decode_body)(void* instance, void* call_state, int status, const char* body, size_t len,
                     const sluice_emitter* emit);
  /* Stream decoding. The kernel splits SSE into events and hands each to
   * stream_event (event name may be empty). Return SLUICE_OK, or an error to
   * end the stream with an error event. NULL: the native stream is already
   * canonical SSE; the kernel passes events through and reads usage itself. */
  int (*stream_event)(void* instance, void* call_state, sluice_str event, sluice_str data,
                      const sluice_emitter* emit);
  void (*call_end)(void* instance, void* call_state); /* frees call_state */
  /* Answer `call` without the network (used when build_request set local).
   * The plugin calls res->start once, res->write zero or more times and
   * res->finish exactly once, now or later from timers on call->worker; `res`
   * and `call` stay valid until finish() (or local_cancel()). It sets
   * *local_state to its per-response memory before its first `res` callback
   * (so the kernel can cancel from inside one), resets it to NULL when the
   * response ended before returning, and frees that memory itself when it
   * calls finish(). Returns SLUICE_OK, or an error without having called
   * start(). */
  int (*local_respond)(void* instance, const sluice_provider_call* call,
                       const sluice_local_response* res, void** local_state);
  /* The kernel abandons a local response before finish() (client gone,
   * shutdown): the plugin cancels its timers, frees local_state and calls no
   * `res` callback after this. It may come from inside a `res` callback
   * (write() found the client gone): the plugin then stops once that callback
   * returns. Never called once finish() has been called, nor when
   * local_respond returned an error. May be NULL when local_respond always
   * finishes before returning. */
  void (*local_cancel)(void* instance, void* local_state);
} sluice_provider_vtable;

/* ------------------------------------------------------------------------ */
/* Routing kind: order candidate targets using their live stats. */

typedef struct sluice_target_stats {
  uint32_t struct_size;
  sluice_str target;        /* "<provider>/<model>" */
  int64_t priority;         /* from the manifest; 0 when unset */
  int64_t weight;           /* from the manifest; 0 when unset */
  double latency_ms;        /* recent mean */
  double ttft_ms;           /* recent mean time to first token */
  double tpot_ms;           /* recent mean time per output token */
  double tpot_ms_3m;        /* mean TPOT over the last 3 minutes */
  uint32_t tpot_samples;    /* samples in the TPOT window */
  double error_rate;        /* 0..1, recent */
  uint32_t in_flight;
  int healthy;              /* 0 when the circuit breaker has it open */
  const char* target_config_json; /* the target's manifest block */

  /* -- 1.1 -- */
  /* The target's sla_cutoff.time_per_output_token_ms; 0 when it has none.
   * tpot_ms_3m is then the mean over sla_cutoff.window_seconds (default 180). */
  double sla_tpot_ms;
  uint32_t tpot_samples_3m; /* samples behind tpot_ms_3m; 0: no recent data */
} sluice_target_stats;

/* One instance per routing rule (create() gets the rule's strategy keys).
 * order() is called from every worker thread at once, so it keeps per-call
 * state on the stack (or in thread-local storage); it must not block. The
 * host skips targets whose `healthy` is 0 wherever they are placed, and keeps
 * a sticky session on its pinned target itself (sticky_key tells the
 * strategy that the request belongs to a session, e.g. to pick by hash). */
typedef struct sluice_routing_vtable {
  uint32_t struct_size;
  int (*create)(const sluice_host* host, const char* config_json, void** instance, char* err,
                size_t err_len);
  void (*destroy)(void* instance);
  /* Writes into order[0..n) the indexes of targets in the order to try
   * them; returns how many to try (<= n). sticky_key may be empty. The host
   * lays `targets` out as the sluice_target_stats of the ABI minor the plugin
   * was built against (struct_size tells), so targets[i] indexes as usual. */
  int (*order)(void* instance, const sluice_target_stats* targets, size_t n, sluice_str sticky_key,
               uint32_t* order);
} sluice_routing_vtable;

/* ------------------------------------------------------------------------ */
/* Guardrail kind. */

typedef enum sluice_hook {
  SLUICE_HOOK_LLM_INPUT = 1,
  SLUICE_HOOK_LLM_OUTPUT = 2,
  SLUICE_HOOK_MCP_PRE_TOOL = 3,
  SLUICE_HOOK_MCP_POST_TOOL = 4
} sluice_hook;

typedef enum sluice_verdict {
  SLUICE_VERDICT_PASS = 0,
  SLUICE_VERDICT_BLOCK = 1,
  SLUICE_VERDICT_MUTATE = 2,
  SLUICE_VERDICT_FAIL = 3 /* the guardrail itself failed */
} sluice_verdict;

typedef struct sluice_finding {
  sluice_str type; /* e.g. "EMAIL", "AWS_ACCESS_KEY" — never the value */
  uint32_t count;
  sluice_str action; /* "redact", "block", "audit" */
} sluice_finding;

typedef struct sluice_guard_result {
  uint32_t struct_size;
  sluice_verdict verdict;
  sluice_str reason;  /* BLOCK/FAIL: why (never the matched secret) */
  sluice_str content; /* MUTATE: the new content */
  const sluice_finding* findings;
  size_t finding_count;

  /* -- 1.1 -- */
  /* Streams: how many bytes at the end of the checked text (the returned
   * content after MUTATE) may begin something this guardrail would still act
   * on once more text arrives (an e-mail address without its domain yet, an
   * unfinished private-key block). The host holds at least these back from
   * the client, up to its window cap. 0: nothing pending. */
  size_t hold_bytes;
} sluice_guard_result;

typedef void (*sluice_guard_done)(void* token, const sluice_guard_result* result);

typedef struct sluice_guard_input {
  uint32_t struct_size;
  sluice_hook hook;
  sluice_str content; /* the text under inspection (JSON for tool calls) */
  sluice_str model;
  sluice_str subject;
  sluice_str metadata_json;
  sluice_worker* worker;
  /* For PENDING answers: call done(token, result) exactly once, later or
   * even before check() returns; the host owns the timeout and cancel. */
  sluice_guard_done done;
  void* token;

  /* -- 1.1 -- */
  sluice_str request_id;
  /* Memory the plugin keeps for one request across its calls (every hook,
   * every message, every window of a stream): NULL on the request's first
   * call; whatever the plugin stores in *request_state comes back on later
   * calls for the same request, and goes to request_end() when the request
   * is over. Per guardrail instance and request; never shared between
   * threads. */
  void** request_state;
} sluice_guard_input;

typedef struct sluice_guardrail_vtable {
  uint32_t struct_size;
  int (*create)(const sluice_host* host, const char* config_json, void** instance, char* err,
                size_t err_len);
  void (*destroy)(void* instance);
  /* Returns SLUICE_OK with *result filled (valid until the next call on this
   * instance from the same worker), or SLUICE_PENDING and calls done later. */
  int (*check)(void* instance, const sluice_guard_input* in, sluice_guard_result* result);
  /* The host gave up on a PENDING check (timeout or client gone). */
  void (*cancel)(void* instance, void* token);

  /* -- 1.1 -- */
  /* The request is over: free what check() kept in *request_state. Called
   * once per request that left a non-NULL state; may be NULL. */
  void (*request_end)(void* instance, void* request_state);
} sluice_guardrail_vtable;

/* ------------------------------------------------------------------------ */
/* Sink kind: finished request records, in batches, on a sink thread.
 *
 * One kernel thread runs every sink: create(), attach(), write(), event(),
 * flush() and destroy() are called on it, never concurrently with each other.
 * query() and dropped() are called on the admin thread, concurrently with
 * the others: a sink that implements them guards what they share. */

/* 1.1: what a guardrail found, as the record carries it (never the value). */
typedef struct sluice_record_finding {
  sluice_str guardrail; /* its name in the manifest */
  sluice_str hook;      /* "llm_input", "llm_output", "mcp_pre_tool", "mcp_post_tool" */
  sluice_str type;      /* "EMAIL", "AWS_ACCESS_KEY", ... */
  uint32_t count;
  sluice_str action; /* "redact", "block", "audit" */
} sluice_record_finding;

/* 1.1: a rate-limit, budget or guardrail rule that changed a request's fate. */
typedef struct sluice_record_event {
  sluice_str rule;   /* the rule's id (a guardrail's name) */
  sluice_str kind;   /* "rate_limit", "budget", "guardrail" */
  sluice_str action; /* "blocked", "downgraded" */
} sluice_record_event;

/* 1.2: one try of one routing target. */
typedef struct sluice_record_attempt {
  sluice_str target; /* "<provider>/<model>" */
  int status;        /* HTTP status; 0 when no answer came (connection error, timeout) */
  sluice_str error;  /* why it failed: "connect_error", "timeout", ...; empty when it did not */
  double duration_ms;
} sluice_record_attempt;

/* 1.1: one request record's fields. Strings are empty when unknown; phase
 * times are milliseconds, negative when the phase did not run. The same
 * record as JSON (the versioned schema in the README) is `json`; it is empty
 * when every running sink has SLUICE_SINK_VIEWS_ONLY (1.2). */
typedef struct sluice_record {
  uint32_t struct_size;
  uint32_t schema_version; /* of the JSON schema; 1 */
  sluice_str json;
  sluice_str id;
  int64_t start_ms; /* wall clock, Unix epoch ms */
  int64_t end_ms;
  sluice_str method;
  sluice_str path;
  sluice_str client_ip;
  sluice_str trace_id; /* W3C, 32 hex digits */
  sluice_str span_id;  /* the gateway's span, 16 hex digits */
  sluice_str parent_span_id; /* the client's span from its traceparent, or empty */
  sluice_str subject;  /* "user:alice@example.com", "virtualaccount:checkout", "anonymous" */
  sluice_str team;
  const sluice_header* metadata;
  size_t metadata_count;
  sluice_str requested_model;
  sluice_str resolved_model;
  sluice_str provider;      /* the provider account ("openai-main") */
  sluice_str provider_type; /* its provider plugin ("openai") */
  const sluice_str* applied_rules;
  size_t applied_rule_count;
  int status;
  sluice_str error_code;
  int stream;
  int64_t prompt_tokens;
  int64_t completion_tokens;
  int64_t cached_tokens;
  int tokens_estimated;
  double cost_usd;
  double auth_ms, guard_in_ms, route_ms, upstream_ms, ttft_ms, tpot_ms, guard_out_ms, total_ms;
  uint32_t attempt_count;
  const sluice_record_finding* findings;
  size_t finding_count;
  const sluice_record_event* events;
  size_t event_count;

  /* -- 1.2 -- */
  const sluice_record_attempt* attempts; /* attempt_count of them, in order */
  int bodies_logged;                     /* the record carries the two bodies below */
  sluice_str request_body;
  sluice_str response_body;
} sluice_record;

typedef struct sluice_record_batch {
  uint32_t struct_size;
  const sluice_str* records; /* each one request record as JSON */
  size_t count;

  /* -- 1.1 -- */
  const sluice_record* views; /* parallel to records */
} sluice_record_batch;

/* 1.1: an admin read a sink may answer (see query()). `name` is one of
 * "metrics" (Prometheus text), "requests" (a page of records), "request"
 * (one record, parameter "id") or "analytics"; `params` are the decoded
 * query-string parameters of the admin request. */
typedef struct sluice_sink_query {
  uint32_t struct_size;
  sluice_str name;
  const sluice_header* params;
  size_t param_count;
} sluice_sink_query;

typedef void (*sluice_sink_reply)(void* ctx, int status, const char* content_type,
                                  const char* body, size_t len);

typedef struct sluice_sink_vtable {
  uint32_t struct_size;
  int (*create)(const sluice_host* host, const char* config_json, void** instance, char* err,
                size_t err_len);
  void (*destroy)(void* instance);
  /* A batch of records; the memory is valid during the call only. */
  int (*write)(void* instance, const sluice_record_batch* batch);
  /* Deliver what is buffered (called after every batch, at reload and shutdown). */
  void (*flush)(void* instance);

  /* -- 1.1 -- */
  /* Once, before the first write: the sink thread's loop. Timers and host
   * HTTP calls made with `worker` run (and call back) on the sink thread.
   * In-flight calls are cancelled before destroy(). May be NULL. */
  void (*attach)(void* instance, sluice_worker* worker);
  /* A kernel event that belongs to no single request's record, as JSON:
   * {"type":"budget_threshold", ...}. May be NULL. */
  void (*event)(void* instance, sluice_str json);
  /* Admin thread. Answers `q` by calling reply(ctx, ...) once before it
   * returns (SLUICE_OK), or returns SLUICE_ERR_UNSUPPORTED when this sink
   * does not serve that query; the kernel then asks the next sink. The body
   * need only live during the reply call. May be NULL. */
  int (*query)(void* instance, const sluice_sink_query* q, sluice_sink_reply reply, void* ctx);
  /* Admin thread: records this sink accepted but failed to deliver (an
   * unreachable database, a refused insert), since create(). May be NULL. */
  uint64_t (*dropped)(void* instance);

  /* -- 1.2 -- */
  uint32_t flags; /* SLUICE_SINK_* */
} sluice_sink_vtable;

/* 1.2: write() reads batch->views only. When every running sink says so, the
 * kernel builds no JSON: each record's `json` (and batch->records) is empty. */
#define SLUICE_SINK_VIEWS_ONLY 0x1u

/* ------------------------------------------------------------------------ */
/* The descriptor. Version fields come first: they protect the rest. */

typedef struct sluice_plugin_descriptor {
  uint32_t magic; /* SLUICE_PLUGIN_MAGIC */
  uint16_t abi_major;
  uint16_t abi_minor;
  uint32_t struct_size; /* sizeof(sluice_plugin_descriptor) */
  sluice_kind kind;
  const char* name;    /* unique among loaded plugins */
  const char* version; /* the plugin's semantic version, "1.2.3" */
  const char* description;
  const sluice_config_key* config; /* terminated by name==NULL; NULL: no keys */
  const void* vtable; /* the kind's sluice_*_vtable */
} sluice_plugin_descriptor;

typedef const sluice_plugin_descriptor* (*sluice_plugin_entry_fn)(void);

#define SLUICE_PLUGIN_ENTRY_SYMBOL "sluice_plugin_entry"

/* Fills the version fields of a descriptor. */
#define SLUICE_DESCRIPTOR_HEAD                                                                    \
  SLUICE_PLUGIN_MAGIC, SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR, (uint32_t)sizeof(sluice_plugin_descriptor)

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_PLUGIN_H */
