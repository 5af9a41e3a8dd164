// Manifest loading: YAML (yaml-cpp) -> interpolation (${env:X}, ${file:path})
// -> typed Config, with every error reported as "file:line:col: key.path: why".
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "manifest/config.h"
#include "sluice/plugin.h"

namespace sluice::manifest {

struct Error {
  Mark mark;
  std::string path;     // key path, e.g. "providers[0].models[1].pricing.input_per_mtok"
  std::string message;  // why; never contains a secret value
  std::string str() const;  // "file:line:col: path: message"
};

// Finds a plugin's declared config schema by kind and name. Returns false
// (with *why set) when no such plugin exists; *keys may be NULL for a plugin
// that takes no keys.
using SchemaLookup = std::function<bool(sluice_kind kind, const std::string& name,
                                        const sluice_config_key** keys, std::string* why)>;

struct LoadResult {
  Config config;
  std::vector<Error> errors;  // empty on success; every error found, not just the first
  bool ok() const { return errors.empty(); }
};

// Loads and validates a manifest file.
LoadResult loadFile(const std::string& path, const SchemaLookup& schemas);
// Loads from text (tests, fuzzing, PUT /admin/config); `name` is used in marks.
LoadResult loadString(const std::string& yaml, const std::string& name,
                      const SchemaLookup& schemas);
// The built-in default: 127.0.0.1:8080, open, the mock provider.
Config builtinDefault();
// The built-in default as YAML text (what `sluice serve` runs with no -c).
const char* builtinDefaultYaml();

// Validates a JSON config block against a plugin schema, fills defaults, and
// returns the normalised JSON. Errors are appended with `base` mark/path.
std::string checkPluginConfig(const std::string& json, const sluice_config_key* keys,
                              const Mark& base, const std::string& path,
                              std::vector<Error>* errors);

}  // namespace sluice::manifest
