// Reading a sink's config block (already checked against its schema, with
// defaults filled): small typed getters over cJSON.
#pragma once

#include <cjson/cJSON.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sluice::sink_config {

inline std::string str(const cJSON* cfg, const char* key, std::string fallback = "") {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(cfg, key);
  return cJSON_IsString(v) ? v->valuestring : fallback;
}

inline int64_t integer(const cJSON* cfg, const char* key, int64_t fallback) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(cfg, key);
  return cJSON_IsNumber(v) ? static_cast<int64_t>(v->valuedouble) : fallback;
}

inline bool boolean(const cJSON* cfg, const char* key, bool fallback) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(cfg, key);
  return cJSON_IsBool(v) ? cJSON_IsTrue(v) : fallback;
}

inline std::vector<std::string> strList(const cJSON* cfg, const char* key) {
  std::vector<std::string> out;
  const cJSON* item = nullptr;
  cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(cfg, key)) {
    if (cJSON_IsString(item)) out.emplace_back(item->valuestring);
  }
  return out;
}

// An object of string values (extra HTTP headers). False, with *why, when a
// value is not a string.
inline bool strPairs(const cJSON* cfg, const char* key,
                     std::vector<std::pair<std::string, std::string>>* out, std::string* why) {
  const cJSON* obj = cJSON_GetObjectItemCaseSensitive(cfg, key);
  if (!obj || cJSON_IsNull(obj)) return true;
  if (!cJSON_IsObject(obj)) {
    *why = std::string(key) + " must be a mapping of header names to strings";
    return false;
  }
  for (const cJSON* item = obj->child; item; item = item->next) {
    if (!cJSON_IsString(item)) {
      *why = std::string(key) + "." + item->string + " must be a string";
      return false;
    }
    out->emplace_back(item->string, item->valuestring);
  }
  return true;
}

}  // namespace sluice::sink_config
