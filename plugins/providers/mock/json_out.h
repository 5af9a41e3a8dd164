// Minimal JSON text writing for the mock's hot path: appending to a string is
// much cheaper than building a cJSON tree and printing it.
#pragma once

#include <cinttypes>
#include <cstdio>
#include <string>
#include <string_view>

namespace sluice::mock {

// Appends `s` as a quoted JSON string.
inline void appendString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

inline void appendInt(std::string* out, int64_t v) {
  char buf[24];
  int n = snprintf(buf, sizeof(buf), "%" PRId64, v);
  out->append(buf, n);
}

}  // namespace sluice::mock
