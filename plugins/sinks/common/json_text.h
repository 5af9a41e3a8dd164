// JSON text helpers the sinks share: string literals and a record's metadata
// as one JSON object.
#pragma once

#include <string>
#include <string_view>

#include "sluice/plugin.h"

namespace sluice::sink_json {

inline std::string_view sv(sluice_str s) { return std::string_view(s.ptr ? s.ptr : "", s.len); }

// `v` as a JSON string literal, quotes included.
inline void appendString(std::string* out, std::string_view v) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xf]);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back('"');
}

// Appends {"key":"value",...} of the record's metadata.
inline void appendMetadataObject(const sluice_record& r, std::string* out) {
  out->push_back('{');
  for (size_t i = 0; i < r.metadata_count; i++) {
    if (i) out->push_back(',');
    appendString(out, sv(r.metadata[i].name));
    out->push_back(':');
    appendString(out, sv(r.metadata[i].value));
  }
  out->push_back('}');
}

inline std::string metadataObject(const sluice_record& r) {
  std::string out;
  appendMetadataObject(r, &out);
  return out;
}

}  // namespace sluice::sink_json
