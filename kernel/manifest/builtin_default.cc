// The manifest `sluice serve` runs with when given none: loopback only, no
// auth, one mock provider, so a first run works offline.
#include "manifest/loader.h"

namespace sluice::manifest {

const char* builtinDefaultYaml() {
  return R"(# Sluice built-in default: loopback only, open (no auth), the mock provider.
version: 1
server:
  listen: ["127.0.0.1:8080"]
  workers: 1
admin:
  listen: "127.0.0.1:9090"
providers:
  - name: mock
    type: mock
    models: [gpt-4o-mini, text-embedding-3-small]
)";
}

Config builtinDefault() {
  // No schema lookup here: the mock plugin's defaults are filled when the
  // runtime loads it. Loading the text with the registry's lookup gives
  // the same config with them filled in.
  Config config = loadString(builtinDefaultYaml(), "<built-in>", SchemaLookup()).config;
  config.source_file.clear();
  return config;
}

}  // namespace sluice::manifest
