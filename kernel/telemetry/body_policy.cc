#include "telemetry/body_policy.h"

#include <cjson/cJSON.h>

namespace sluice::telemetry {

bool parseLoggingHeader(std::string_view value, std::optional<bool>* log_bodies,
                        std::string* error) {
  cJSON* root = cJSON_ParseWithLength(value.data(), value.size());
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    *error = "must be a JSON object such as {\"log_bodies\": false}";
    return false;
  }
  bool ok = true;
  for (const cJSON* item = root->child; item && ok; item = item->next) {
    std::string key = item->string ? item->string : "";
    if (key != "log_bodies") {
      *error = "unknown key '" + key + "' (known: log_bodies)";
      ok = false;
    } else if (!cJSON_IsBool(item)) {
      *error = "'log_bodies' must be true or false";
      ok = false;
    } else {
      *log_bodies = cJSON_IsTrue(item);
    }
  }
  cJSON_Delete(root);
  return ok;
}

bool logBodies(const manifest::LoggingConfig& config, std::optional<bool> caller) {
  if (!caller) return config.log_bodies;
  if (!*caller) return false;
  return config.log_bodies || config.caller_may_enable_bodies;
}

}  // namespace sluice::telemetry
