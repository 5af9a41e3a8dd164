// Plugin schemas shaped like the real built-in plugins', so manifests in
// tests resolve provider types, strategies, guardrails and sinks without
// loading any .so.
#pragma once

#include <string>
#include <vector>

#include "manifest/loader.h"

namespace sluice::manifest::testing {

SchemaLookup stubSchemas();

// loadString(yaml, "test.yaml", stubSchemas()).
LoadResult load(const std::string& yaml);

// Every error as "file:line:col: path: message".
std::vector<std::string> errorStrings(const LoadResult& result);
std::vector<std::string> errorStrings(const std::vector<Error>& errors);

// Sets an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  bool had_ = false;
  std::string old_;
};

}  // namespace sluice::manifest::testing
