// YAML -> JSON for the blocks handed to plugins (provider keys, routing
// strategy keys, guardrail and sink `config`, override_params). Scalars are
// expanded (${env:...}, ${file:...}) and typed by the YAML 1.2 core schema;
// each JSON value remembers where it came from so schema errors can point at
// the manifest.
#pragma once

#include <cjson/cJSON.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <memory>
#include <string>

#include "manifest/config.h"
#include "manifest/reader.h"

namespace sluice::manifest {

struct JsonOrigin {
  Mark mark;                  // the value
  Mark key_mark;              // its key (or the value, for list items)
  bool plain = false;         // an unquoted YAML scalar: its type was guessed
  bool interpolated = false;  // holds an expanded reference: never print it
  std::string text;           // the scalar's expanded text
};
// Keyed by the JSON path relative to the block: "auth.bearer", "labels[0]".
using JsonOrigins = std::map<std::string, JsonOrigin>;

struct JsonDeleter {
  void operator()(cJSON* j) const { cJSON_Delete(j); }
};
using JsonPtr = std::unique_ptr<cJSON, JsonDeleter>;

// Converts `f` (any YAML value). `rel` is the path inside the block used for
// origins; errors are reported at f.path. Returns nullptr after recording an
// error. With `quiet`, reference errors are not recorded (the caller already
// read these values through typed readers).
JsonPtr yamlToJson(Context& ctx, const Field& f, const std::string& rel, JsonOrigins* origins,
                   bool quiet = false);

// Converts the entries of a mapping into one JSON object, as if they were
// the whole block. `base` is the block's field (its path prefixes errors).
JsonPtr entriesToJson(Context& ctx, const Field& base, const std::vector<MapReader::Entry>& entries,
                      JsonOrigins* origins);

std::string printJson(const cJSON* json);

}  // namespace sluice::manifest
