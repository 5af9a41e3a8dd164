#include "stub_schemas.h"

#include <cstdlib>
#include <map>
#include <utility>

namespace sluice::manifest::testing {
namespace {

constexpr uint32_t kReq = SLUICE_CFG_REQUIRED;
constexpr uint32_t kSecret = SLUICE_CFG_SECRET;

const sluice_config_key kBearerAuth[] = {
    {"bearer", SLUICE_CFG_STRING, kSecret, nullptr, 0, 0, nullptr, nullptr, "API key"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

const sluice_config_key kOpenAi[] = {
    {"base_url", SLUICE_CFG_STRING, 0, "\"https://api.openai.com/v1\"", 0, 0, nullptr, nullptr,
     "API root"},
    {"auth", SLUICE_CFG_OBJECT, 0, nullptr, 0, 0, nullptr, kBearerAuth, "credentials"},
    {"organization", SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, "OpenAI-Organization"},
    {"project", SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, "OpenAI-Project"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

const sluice_config_key kOpenAiCompatible[] = {
    {"base_url", SLUICE_CFG_STRING, kReq, nullptr, 0, 0, nullptr, nullptr, "API root"},
    {"auth", SLUICE_CFG_OBJECT, 0, nullptr, 0, 0, nullptr, kBearerAuth, "credentials"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

const sluice_config_key kAwsAuth[] = {
    {"aws_access_key_id", SLUICE_CFG_STRING, kReq | kSecret, nullptr, 0, 0, nullptr, nullptr, ""},
    {"aws_secret_access_key", SLUICE_CFG_STRING, kReq | kSecret, nullptr, 0, 0, nullptr, nullptr,
     ""},
    {"aws_session_token", SLUICE_CFG_STRING, kSecret, nullptr, 0, 0, nullptr, nullptr, ""},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

const sluice_config_key kBedrock[] = {
    {"region", SLUICE_CFG_STRING, kReq, nullptr, 0, 0, nullptr, nullptr, "AWS region"},
    {"auth", SLUICE_CFG_OBJECT, kReq, nullptr, 0, 0, nullptr, kAwsAuth, "AWS credentials"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

const sluice_config_key kMock[] = {
    {"latency_ms", SLUICE_CFG_INT, 0, "0", 0, 60000, nullptr, nullptr, "delay per response"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

// As plugins/routing/latency declares them.
const sluice_config_key kLatency[] = {
    {"equal_within", SLUICE_CFG_NUMBER, 0, "1.2", 1, 10, nullptr, nullptr, "equal TPOT factor"},
    {"min_samples", SLUICE_CFG_INT, 0, "3", 1, 1000, nullptr, nullptr, "samples to judge"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

const char* const kPiiActions[] = {"redact", "block", "audit", nullptr};
const sluice_config_key kPii[] = {
    {"action", SLUICE_CFG_STRING, 0, "\"redact\"", 0, 0, kPiiActions, nullptr, "what to do"},
    {"entities", SLUICE_CFG_STRING_LIST, 0, "[\"EMAIL\",\"PHONE\"]", 0, 0, nullptr, nullptr, ""},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

const sluice_config_key kInjection[] = {
    {"threshold", SLUICE_CFG_NUMBER, 0, "0.5", 0, 1, nullptr, nullptr, "score to block at"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

const char* const kLogFormats[] = {"json", "logfmt", nullptr};
const sluice_config_key kAccessLog[] = {
    {"format", SLUICE_CFG_STRING, 0, "\"json\"", 0, 0, kLogFormats, nullptr, "line format"},
    {"path", SLUICE_CFG_STRING, 0, "\"-\"", 0, 0, nullptr, nullptr, "file, - for stdout"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

const sluice_config_key kSqlite[] = {
    {"path", SLUICE_CFG_STRING, kReq, nullptr, 0, 0, nullptr, nullptr, "database file"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

const sluice_config_key kPrometheus[] = {
    {"metadata_labels", SLUICE_CFG_STRING_LIST, 0, "[]", 0, 0, nullptr, nullptr, "labels"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

const char* kindWord(sluice_kind kind) {
  switch (kind) {
    case SLUICE_KIND_PROVIDER:
      return "provider";
    case SLUICE_KIND_ROUTING:
      return "routing";
    case SLUICE_KIND_GUARDRAIL:
      return "guardrail";
    case SLUICE_KIND_SINK:
      return "sink";
  }
  return "?";
}

}  // namespace

SchemaLookup stubSchemas() {
  static const std::map<std::pair<sluice_kind, std::string>, const sluice_config_key*> kSchemas = {
      {{SLUICE_KIND_PROVIDER, "openai"}, kOpenAi},
      {{SLUICE_KIND_PROVIDER, "openai-compatible"}, kOpenAiCompatible},
      {{SLUICE_KIND_PROVIDER, "bedrock"}, kBedrock},
      {{SLUICE_KIND_PROVIDER, "mock"}, kMock},
      {{SLUICE_KIND_ROUTING, "priority"}, nullptr},
      {{SLUICE_KIND_ROUTING, "weighted"}, nullptr},
      {{SLUICE_KIND_ROUTING, "latency"}, kLatency},
      {{SLUICE_KIND_GUARDRAIL, "pii"}, kPii},
      {{SLUICE_KIND_GUARDRAIL, "prompt-injection"}, kInjection},
      {{SLUICE_KIND_GUARDRAIL, "secrets"}, nullptr},
      {{SLUICE_KIND_SINK, "access-log"}, kAccessLog},
      {{SLUICE_KIND_SINK, "sqlite"}, kSqlite},
      {{SLUICE_KIND_SINK, "prometheus"}, kPrometheus},
  };
  return [](sluice_kind kind, const std::string& name, const sluice_config_key** keys,
            std::string* why) {
    auto it = kSchemas.find({kind, name});
    if (it == kSchemas.end()) {
      *why = "no " + std::string(kindWord(kind)) + " plugin named '" + name + "'";
      return false;
    }
    *keys = it->second;
    return true;
  };
}

LoadResult load(const std::string& yaml) { return loadString(yaml, "test.yaml", stubSchemas()); }

std::vector<std::string> errorStrings(const std::vector<Error>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors) out.push_back(e.str());
  return out;
}

std::vector<std::string> errorStrings(const LoadResult& result) {
  return errorStrings(result.errors);
}

ScopedEnv::ScopedEnv(const char* name, const char* value) : name_(name) {
  if (const char* old = std::getenv(name)) {
    had_ = true;
    old_ = old;
  }
  if (value) {
    setenv(name, value, 1);
  } else {
    unsetenv(name);
  }
}

ScopedEnv::~ScopedEnv() {
  if (had_) {
    setenv(name_.c_str(), old_.c_str(), 1);
  } else {
    unsetenv(name_.c_str());
  }
}

}  // namespace sluice::manifest::testing
