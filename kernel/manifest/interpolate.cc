#include "manifest/interpolate.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sluice::manifest {
namespace {

// Secret files are small; a cap keeps a mistaken ${file:/dev/zero} harmless.
constexpr size_t kMaxFileBytes = 1 << 20;

}  // namespace

std::string resolveAgainst(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

std::string protectReferences(const std::string& yaml) {
  std::string out = yaml;
  size_t i = 0;
  while ((i = out.find("${", i)) != std::string::npos) {
    size_t close = out.find_first_of("}\n", i + 2);
    if (close == std::string::npos) break;
    if (out[close] == '\n') {  // unclosed on this line: left for the error message
      i = close;
      continue;
    }
    out[i + 1] = kRefOpen;
    out[close] = kRefClose;
    i = close + 1;
  }
  return out;
}

std::string restoreReferences(std::string text) {
  for (char& c : text) {
    if (c == kRefOpen) c = '{';
    if (c == kRefClose) c = '}';
  }
  return text;
}

bool Interpolator::readFile(const std::string& path, std::string* out, std::string* why) {
  auto cached = file_cache_.find(path);
  if (cached != file_cache_.end()) {
    *out = cached->second;
    return true;
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *why = "cannot read file '" + path + "' (" + std::strerror(errno) + ")";
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *why = "cannot read file '" + path + "' (not a regular file)";
    return false;
  }
  if (static_cast<size_t>(st.st_size) > kMaxFileBytes) {
    *why = "cannot read file '" + path + "' (larger than 1 MiB)";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *why = "cannot read file '" + path + "' (" + std::strerror(errno) + ")";
    return false;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  // Files written by editors and `echo` end in a newline that is not part
  // of the secret.
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  file_cache_[path] = text;
  *out = std::move(text);
  return true;
}

bool Interpolator::expand(const std::string& raw, std::string* out, bool* had_refs,
                          std::string* why) {
  out->clear();
  *had_refs = false;
  size_t i = 0;
  while (i < raw.size()) {
    if (raw.compare(i, 3, "$${") == 0) {
      out->append("${");
      i += 3;
      continue;
    }
    if (raw.compare(i, 2, "${") != 0) {
      out->push_back(raw[i++]);
      continue;
    }
    size_t close = raw.find('}', i + 2);
    if (close == std::string::npos) {
      *why = "unterminated '${' (expected ${env:NAME} or ${file:PATH})";
      return false;
    }
    std::string ref = raw.substr(i + 2, close - i - 2);
    size_t colon = ref.find(':');
    std::string kind = colon == std::string::npos ? ref : ref.substr(0, colon);
    std::string arg = colon == std::string::npos ? "" : ref.substr(colon + 1);
    if (colon == std::string::npos || (kind != "env" && kind != "file")) {
      *why = "unknown reference '${" + kind + (colon == std::string::npos ? "" : ":...") +
             "}' (expected ${env:NAME} or ${file:PATH})";
      return false;
    }
    if (arg.empty()) {
      *why = "empty " + std::string(kind == "env" ? "variable name" : "path") + " in '${" + kind +
             ":}'";
      return false;
    }
    if (kind == "env") {
      const char* value = std::getenv(arg.c_str());
      if (value == nullptr) {
        *why = "environment variable '" + arg + "' is not set";
        return false;
      }
      out->append(value);
    } else {
      std::string content;
      if (!readFile(resolveAgainst(base_dir_, arg), &content, why)) return false;
      out->append(content);
    }
    *had_refs = true;
    i = close + 1;
  }
  return true;
}

}  // namespace sluice::manifest
