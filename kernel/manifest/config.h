// Typed configuration: the manifest (sluice.yaml, version 1) after loading,
// interpolation and validation. Every section of DESIGN §5 has a type here;
// behaviour for some sections arrives in later modules, but the schema is whole.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice::manifest {

// Where a value came from, for error messages that point at the manifest.
struct Mark {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown (built-in default)
  int col = 0;   // 1-based
};

struct ListenAddr {
  std::string host;  // "0.0.0.0", "127.0.0.1", "::1"
  uint16_t port = 0;
};

struct TlsConfig {
  std::string cert;  // PEM file path, absolute after loading
  std::string key;   // PEM file path, absolute after loading
  Mark mark;
};

struct Limits {
  uint64_t max_body_bytes = 10 * 1024 * 1024;
  uint32_t max_header_bytes = 16 * 1024;
  uint32_t header_timeout_ms = 10000;
  uint32_t idle_timeout_ms = 60000;
  uint32_t drain_timeout_ms = 30000;  // SIGTERM: how long in-flight requests may finish
};

struct UpstreamDefaults {
  uint32_t connect_timeout_ms = 5000;
  uint32_t first_byte_timeout_ms = 60000;
  uint32_t total_timeout_ms = 600000;
  std::string ca_file;  // custom CA bundle; empty = system store
  bool verify_tls = true;
};

struct ServerConfig {
  std::vector<ListenAddr> listen{{"127.0.0.1", 8080}};
  int workers = 0;  // 0 = auto (one per core)
  std::vector<std::string> base_paths{"/v1", "/api/llm/v1"};
  std::optional<TlsConfig> tls;
  Limits limits;
  UpstreamDefaults upstream;
};

struct AdminConfig {
  std::optional<ListenAddr> listen;  // absent: no admin listener
  std::string token;                 // secret; empty = none (loopback only)
};

struct PluginRef {
  std::string name;
  std::string path;     // absolute after loading (relative to the manifest's folder)
  std::string version;  // constraint such as "^1.2"; empty = any
  Mark mark;
};

struct Pricing {
  double input_per_mtok = 0;
  double output_per_mtok = 0;
  double cached_input_per_mtok = 0;  // the loader sets input_per_mtok when not given
};

struct ModelConfig {
  std::string name;           // the model's own name; clients call "<provider>/<name>"
  std::string upstream_name;  // sent upstream; defaults to name
  std::optional<Pricing> pricing;
  // What a request without max_tokens may produce at most: the worst case
  // that rate limits and budgets reserve before sending.
  int64_t max_output_tokens = 4096;
  Mark mark;
};

struct ProviderConfig {
  std::string name;  // account name, the model prefix
  std::string type;  // provider plugin name
  std::vector<ModelConfig> models;
  // The provider's own keys (base_url, auth, region, ...) as JSON, validated
  // against the plugin's schema, defaults filled, secrets interpolated.
  std::string plugin_config_json;
  Mark mark;
};

// A `when` clause shared by routing, rate limits, budgets and guardrail rules:
// every listed condition must hold; an empty list matches anything.
struct When {
  std::vector<std::string> models;    // patterns: "*", "prod/*", exact
  std::vector<std::string> subjects;  // "user:alice@x", "virtualaccount:checkout"
  std::vector<std::string> teams;
  std::map<std::string, std::string> metadata;
};

struct RetryConfig {
  int attempts = 0;
  uint32_t delay_ms = 100;
  std::vector<int> on_status_codes{429, 500, 502, 503};
};

// A target that fails `failures` times within `window_seconds` is skipped
// for `cooldown_seconds`, then tried by one probe. failures 0: never opens.
struct CircuitBreakerConfig {
  uint32_t failures = 2;
  uint32_t window_seconds = 120;
  uint32_t cooldown_seconds = 30;
};

struct RouteTarget {
  std::string target;  // "<provider>/<model>"
  int64_t priority = 0;
  int64_t weight = 1;
  RetryConfig retry;
  std::vector<int> fallback_status_codes{401, 403, 404, 429, 500, 502, 503};
  std::optional<double> sla_tpot_ms;  // sla_cutoff.time_per_output_token_ms
  uint32_t sla_window_seconds = 180;  // sla_cutoff.window_seconds: the TPOT mean it is held to
  CircuitBreakerConfig circuit_breaker;
  uint32_t timeout_ms = 0;            // per attempt; 0 = server default
  std::string override_params_json;   // JSON object or empty
  std::map<std::string, std::string> headers_set;
  std::vector<std::string> headers_remove;
  std::string raw_json;  // the whole target block, handed to routing plugins
  Mark mark;
};

struct SessionIdentifier {
  std::string source;  // "header" | "metadata"
  std::string key;
};

struct StickyRouting {
  uint32_t ttl_seconds = 0;
  std::vector<SessionIdentifier> session_identifiers;
};

struct RoutingRule {
  std::string id;
  When when;
  std::string strategy;  // routing plugin name
  std::optional<StickyRouting> sticky;
  std::vector<RouteTarget> targets;
  std::string strategy_config_json;  // plugin-specific keys, validated by its schema
  Mark mark;
};

struct Team {
  std::string name;
  std::vector<std::string> members;  // user e-mails
};

struct User {
  std::string email;
  std::string token_sha256;  // hex
  std::vector<std::string> models;
  std::string team;
  std::map<std::string, std::string> metadata;
};

struct VirtualAccount {
  std::string name;
  std::string token_sha256;
  std::string team;
  std::vector<std::string> models;
  std::map<std::string, std::string> metadata;
};

struct AuthConfig {
  std::vector<Team> teams;
  std::vector<User> users;
  std::vector<VirtualAccount> virtual_accounts;
};

enum class LimitUnit {
  RequestsPerMinute,
  RequestsPerHour,
  RequestsPerDay,
  TokensPerMinute,
  TokensPerHour,
  TokensPerDay
};

struct RateLimitRule {
  std::string id;
  When when;
  int64_t limit_to = 0;
  LimitUnit unit = LimitUnit::RequestsPerMinute;
  std::vector<std::string> applies_per;  // subject | team | model | metadata.KEY
  Mark mark;
};

enum class BudgetUnit { CostPerDay, CostPerWeek, CostPerMonth, TokensPerDay, TokensPerMonth };

struct BudgetAlerts {
  std::vector<double> thresholds;  // percent
  std::string webhook;
};

struct BudgetRule {
  std::string id;
  When when;
  double limit_to = 0;
  BudgetUnit unit = BudgetUnit::CostPerMonth;
  std::vector<std::string> applies_per;
  std::optional<BudgetAlerts> alerts;
  enum class OnExceed { Block, Audit, Downgrade } on_exceed = OnExceed::Block;
  std::string downgrade_to;  // when on_exceed == Downgrade
  Mark mark;
};

enum class GuardOperation { Validate, Mutate };
enum class GuardMode { Audit, Enforce, Strict };

struct GuardrailConfig {
  std::string name;
  std::string plugin;
  GuardOperation operation = GuardOperation::Validate;
  GuardMode mode = GuardMode::Enforce;
  int priority = 0;
  uint32_t timeout_ms = 5000;
  std::string plugin_config_json;  // the `config` block
  Mark mark;
};

struct GuardrailRule {
  std::string id;  // optional in the manifest; "guardrail_rules[N]" when not given
  When when;
  std::vector<std::string> llm_input, llm_output, mcp_pre_tool, mcp_post_tool;
  Mark mark;
};

struct PolicyConfig {
  std::string script;  // path, relative to the manifest's folder
  std::vector<std::string> hooks;  // on_request | on_response | on_log
  uint64_t instruction_budget = 1000000;
  uint64_t memory_bytes = 16 * 1024 * 1024;
  Mark mark;
};

struct SinkConfig {
  std::string plugin;
  std::string plugin_config_json;
  Mark mark;
};

// What request records carry and how they reach the sinks.
struct LoggingConfig {
  bool log_bodies = false;  // request and response bodies in records
  uint64_t max_body_bytes = 64 * 1024;  // each logged body is cut to this
  // May a caller's X-Sluice-Logging-Config {"log_bodies": true} turn bodies
  // on when log_bodies is false? (Turning them off is always allowed.)
  bool caller_may_enable_bodies = false;
  uint32_t queue_records = 8192;    // per worker; a full queue drops records (counted)
  uint32_t batch_records = 256;     // records per write() to a sink
  uint32_t flush_interval_ms = 200;  // a partial batch waits at most this long
};

struct StateConfig {
  enum class Backend { Memory, Redis } backend = Backend::Memory;
  std::string redis_url;
  uint32_t redis_timeout_ms = 250;  // per command; past it a call is answered Unavailable
  enum class OnUnavailable { FailOpen, FailClosed } on_unavailable = OnUnavailable::FailOpen;
};

struct Config {
  int version = 1;
  std::string source_file;  // empty for the built-in default
  ServerConfig server;
  AdminConfig admin;
  std::vector<PluginRef> plugins;
  std::map<std::string, std::string> default_metadata;
  std::vector<std::string> required_metadata;
  std::vector<ProviderConfig> providers;
  std::vector<std::string> virtual_models;
  std::vector<RoutingRule> routing;
  std::optional<AuthConfig> auth;  // absent: the gateway runs open
  std::vector<RateLimitRule> rate_limits;
  std::vector<BudgetRule> budgets;
  std::vector<GuardrailConfig> guardrails;
  std::vector<GuardrailRule> guardrail_rules;
  std::vector<PolicyConfig> policies;
  std::vector<SinkConfig> sinks;
  LoggingConfig logging;
  StateConfig state;
};

}  // namespace sluice::manifest
