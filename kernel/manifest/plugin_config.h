// Checks a plugin's JSON config block against its declared schema
// (sluice_config_key table): types, required keys, bounds, enum values,
// unknown keys; fills defaults in place.
#pragma once

#include <cjson/cJSON.h>

#include <string>
#include <vector>

#include "manifest/loader.h"
#include "manifest/yaml_json.h"
#include "sluice/plugin.h"

namespace sluice::manifest {

// `obj` is checked and normalised in place. With `origins` (from
// yamlToJson) errors point at the manifest and unquoted YAML scalars given
// where a string is expected are taken as their text; without, every error
// points at `base`. `also_known` names keys the block's owner reads itself
// (offered as suggestions for unknown top-level keys).
void checkConfigObject(cJSON* obj, const sluice_config_key* keys, const JsonOrigins* origins,
                       const Mark& base, const std::string& base_path, std::vector<Error>* errors,
                       const std::vector<std::string>& also_known = {});

}  // namespace sluice::manifest
