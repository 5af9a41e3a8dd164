// Builds the mock provider's answers: deterministic OpenAI-shaped bodies and
// SSE streams derived from the request alone (plus the clock for `created`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sluice/plugin.h"

namespace sluice::mock {

struct Config {
  uint64_t latency_ms = 0;      // before the first byte
  uint64_t chunk_delay_ms = 0;  // between stream events
  bool has_reply = false;
  std::string reply;    // fixed reply text when has_reply
  uint32_t chunks = 0;  // content chunks per stream; 0 = one per word
  std::vector<std::string> models{"mock-model"};
};

// Parses the provider block; false with *err on a bad value.
bool parseConfig(const char* json, Config* cfg, std::string* err);

// One answer. `body` holds every byte; `cuts` marks where each stream event
// ends (a non-stream answer is one piece ending at body.size()).
struct Reply {
  int status = 200;
  const char* content_type = "application/json";
  std::string body;
  std::vector<size_t> cuts;
};

// `id` is the suffix of the response id; `created` is Unix seconds.
Reply buildReply(const Config& cfg, const sluice_provider_call* call, const std::string& id,
                 int64_t created);

// True for the endpoints the mock answers.
bool supported(sluice_endpoint ep);

}  // namespace sluice::mock
