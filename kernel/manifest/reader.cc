#include "manifest/reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace sluice::manifest {
namespace {

size_t editDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

bool parseInt(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  const char* p = text.data();
  const char* end = p + text.size();
  bool negative = false;
  if (*p == '+' || *p == '-') {
    negative = *p == '-';
    ++p;
  }
  int base = 10;
  if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    base = 16;
    p += 2;
  } else if (end - p > 2 && p[0] == '0' && p[1] == 'o') {
    base = 8;
    p += 2;
  }
  if (p == end || *p == '+' || *p == '-') return false;
  uint64_t magnitude = 0;
  auto [ptr, ec] = std::from_chars(p, end, magnitude, base);
  if (ec != std::errc() || ptr != end) return false;
  if (negative) {
    if (magnitude > static_cast<uint64_t>(INT64_MAX) + 1) return false;
    *out = static_cast<int64_t>(0 - magnitude);
  } else {
    if (magnitude > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(magnitude);
  }
  return true;
}

namespace {

bool parseNumber(const std::string& text, double* out) {
  if (text.empty() || isspace(static_cast<unsigned char>(text[0]))) return false;
  int64_t i = 0;
  if (parseInt(text, &i)) {
    *out = static_cast<double>(i);
    return true;
  }
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(v)) return false;
  // strtod also reads hex floats and "infinity"; YAML numbers are decimal.
  for (char c : text) {
    if (!(isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' || c == '+' ||
          c == '-'))
      return false;
  }
  *out = v;
  return true;
}

std::string formatNumber(double v) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

std::string rangeMessage(const std::string& lo, const std::string& hi, bool has_hi,
                         const std::string& got) {
  std::string msg = has_hi ? "must be between " + lo + " and " + hi : "must be at least " + lo;
  if (!got.empty()) msg += " (got " + got + ")";
  return msg;
}

}  // namespace

std::string joinKey(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string joinIndex(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

std::string suggest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = 3;  // farther than two edits is no longer a typo
  for (const auto& c : candidates) {
    size_t d = editDistance(word, c);
    if (d < best_distance && d < std::max(word.size(), c.size())) {
      best = c;
      best_distance = d;
    }
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a string";
    default:
      return "null";
  }
}

Context::Context(std::string file, std::string base_dir, const SchemaLookup& schemas,
                 std::vector<Error>* errors)
    : file_(std::move(file)),
      base_dir_(base_dir),
      schemas_(schemas),
      errors_(errors),
      interpolator_(std::move(base_dir)) {}

Mark Context::mark(const YAML::Mark& m) const {
  if (m.is_null()) return Mark{file_, 0, 0};
  return Mark{file_, m.line + 1, m.column + 1};
}

void Context::error(const YAML::Mark& m, const std::string& path, std::string message) {
  error(mark(m), path, std::move(message));
}

void Context::error(const Mark& m, const std::string& path, std::string message) {
  errors_->push_back(Error{m, path, std::move(message)});
}

bool Context::scalarText(const YAML::Node& node, const YAML::Mark& at, const std::string& path,
                         std::string* out, bool* had_refs) {
  bool refs = false;
  std::string why;
  if (!interpolator_.expand(rawText(node), out, &refs, &why)) {
    error(at, path, why);
    return false;
  }
  if (had_refs) *had_refs = refs;
  return true;
}

std::string Context::resolvePath(const std::string& path) const {
  return resolveAgainst(base_dir_, path);
}

bool hasRefs(const Field& f) {
  return f.node.IsScalar() && rawText(f.node).find("${") != std::string::npos;
}

Field itemField(const YAML::Node& item, const YAML::Mark& list_mark, const std::string& path,
                size_t index) {
  Field f;
  f.node = item;
  f.mark = item.IsNull() ? list_mark : item.Mark();
  f.key_mark = f.mark;
  f.path = joinIndex(path, index);
  f.present = true;
  return f;
}

bool readString(Context& ctx, const Field& f, std::string* out, bool* had_refs) {
  if (!f.node.IsScalar()) {
    ctx.error(f.mark, f.path, "expected a string, got " + describe(f.node));
    return false;
  }
  return ctx.scalarText(f.node, f.mark, f.path, out, had_refs);
}

bool readInt(Context& ctx, const Field& f, int64_t min, int64_t max, int64_t* out) {
  if (!f.node.IsScalar()) {
    ctx.error(f.mark, f.path, "expected an integer, got " + describe(f.node));
    return false;
  }
  std::string text;
  bool refs = false;
  if (!ctx.scalarText(f.node, f.mark, f.path, &text, &refs)) return false;
  std::string shown = refs ? "" : text;
  int64_t v = 0;
  if (!parseInt(text, &v)) {
    ctx.error(f.mark, f.path, "expected an integer" + (refs ? "" : ", got '" + text + "'"));
    return false;
  }
  if (v < min || v > max) {
    ctx.error(f.mark, f.path,
              rangeMessage(std::to_string(min), std::to_string(max), max != INT64_MAX, shown));
    return false;
  }
  *out = v;
  return true;
}

bool readNumber(Context& ctx, const Field& f, double min, double max, double* out) {
  if (!f.node.IsScalar()) {
    ctx.error(f.mark, f.path, "expected a number, got " + describe(f.node));
    return false;
  }
  std::string text;
  bool refs = false;
  if (!ctx.scalarText(f.node, f.mark, f.path, &text, &refs)) return false;
  double v = 0;
  if (!parseNumber(text, &v)) {
    ctx.error(f.mark, f.path, "expected a number" + (refs ? "" : ", got '" + text + "'"));
    return false;
  }
  if (v < min || v > max) {
    ctx.error(
        f.mark, f.path,
        rangeMessage(formatNumber(min), formatNumber(max), std::isfinite(max), refs ? "" : text));
    return false;
  }
  *out = v;
  return true;
}

bool readBool(Context& ctx, const Field& f, bool* out) {
  if (!f.node.IsScalar()) {
    ctx.error(f.mark, f.path, "expected true or false, got " + describe(f.node));
    return false;
  }
  std::string text;
  bool refs = false;
  if (!ctx.scalarText(f.node, f.mark, f.path, &text, &refs)) return false;
  if (text == "true" || text == "True" || text == "TRUE") {
    *out = true;
    return true;
  }
  if (text == "false" || text == "False" || text == "FALSE") {
    *out = false;
    return true;
  }
  ctx.error(f.mark, f.path, "expected true or false" + (refs ? "" : ", got '" + text + "'"));
  return false;
}

bool isEmptyList(const Field& f) {
  return f.present && (!f.given() || (f.node.IsSequence() && f.node.size() == 0));
}

bool forEachItem(Context& ctx, const Field& f,
                 const std::function<void(const Field&, size_t)>& fn) {
  if (!f.given()) return true;
  if (!f.node.IsSequence()) {
    ctx.error(f.mark, f.path, "expected a list, got " + describe(f.node));
    return false;
  }
  size_t i = 0;
  for (const auto& item : f.node) {
    fn(itemField(item, f.mark, f.path, i), i);
    ++i;
  }
  return true;
}

bool readStringList(Context& ctx, const Field& f, std::vector<std::string>* out) {
  std::vector<std::string> items;
  bool ok = true;
  bool shape = forEachItem(ctx, f, [&](const Field& item, size_t) {
    std::string s;
    if (readString(ctx, item, &s)) {
      items.push_back(std::move(s));
    } else {
      ok = false;
    }
  });
  if (!shape || !ok) return false;
  *out = std::move(items);
  return true;
}

bool readIntList(Context& ctx, const Field& f, int64_t min, int64_t max, std::vector<int>* out) {
  std::vector<int> items;
  bool ok = true;
  bool shape = forEachItem(ctx, f, [&](const Field& item, size_t) {
    int64_t v = 0;
    if (readInt(ctx, item, min, max, &v)) {
      items.push_back(static_cast<int>(v));
    } else {
      ok = false;
    }
  });
  if (!shape || !ok) return false;
  *out = std::move(items);
  return true;
}

bool readStringMap(Context& ctx, const Field& f, std::map<std::string, std::string>* out) {
  MapReader m(ctx, f);
  if (!m.valid()) return false;
  std::map<std::string, std::string> values;
  bool ok = true;
  for (const auto& e : m.rest()) {
    Field vf;
    vf.node = e.value;
    vf.mark = e.value.IsNull() ? e.key_node.Mark() : e.value.Mark();
    vf.key_mark = e.key_node.Mark();
    vf.path = joinKey(f.path, e.key);
    vf.present = true;
    std::string s;
    if (readString(ctx, vf, &s)) {
      values[e.key] = std::move(s);
    } else {
      ok = false;
    }
  }
  if (!ok) return false;
  *out = std::move(values);
  return true;
}

MapReader::MapReader(Context& ctx, const Field& f) : ctx_(ctx), mark_(f.mark), path_(f.path) {
  if (!f.given()) {
    valid_ = true;
    return;
  }
  if (!f.node.IsMap()) {
    ctx.error(f.mark, f.path, "expected a mapping, got " + describe(f.node));
    return;
  }
  valid_ = true;
  for (auto it = f.node.begin(); it != f.node.end(); ++it) {
    YAML::Node key = it->first;  // a copy: it-> yields a temporary
    if (!key.IsScalar()) {
      ctx.error(key.Mark(), path_, "keys must be strings, got " + describe(key));
      continue;
    }
    std::string name = rawText(key);
    if (index_.count(name)) {
      ctx.error(key.Mark(), path_, "duplicate key '" + name + "'");
      continue;
    }
    index_[name] = entries_.size();
    entries_.push_back(Entry{name, key, it->second});
  }
}

Field MapReader::field(const char* key) {
  known_.emplace_back(key);
  Field f;
  f.path = joinKey(path_, key);
  auto it = index_.find(key);
  if (it == index_.end()) {
    f.mark = mark_;
    f.key_mark = mark_;
    return f;
  }
  used_.insert(key);
  const Entry& e = entries_[it->second];
  f.node = e.value;
  f.key_mark = e.key_node.Mark();
  f.mark = e.value.IsNull() ? f.key_mark : e.value.Mark();
  f.present = true;
  return f;
}

Field MapReader::require(const char* key) {
  Field f = field(key);
  if (!f.present && valid_)
    ctx_.error(mark_, path_, "missing required key '" + std::string(key) + "'");
  return f;
}

bool MapReader::str(const char* key, std::string* out, bool required, bool* had_refs) {
  Field f = required ? require(key) : field(key);
  return f.present && readString(ctx_, f, out, had_refs);
}

bool MapReader::integer(const char* key, int64_t min, int64_t max, int64_t* out, bool required) {
  Field f = required ? require(key) : field(key);
  return f.present && readInt(ctx_, f, min, max, out);
}

bool MapReader::number(const char* key, double min, double max, double* out, bool required) {
  Field f = required ? require(key) : field(key);
  return f.present && readNumber(ctx_, f, min, max, out);
}

bool MapReader::boolean(const char* key, bool* out) {
  Field f = field(key);
  return f.present && readBool(ctx_, f, out);
}

bool MapReader::strList(const char* key, std::vector<std::string>* out) {
  Field f = field(key);
  return f.present && readStringList(ctx_, f, out);
}

bool MapReader::strMap(const char* key, std::map<std::string, std::string>* out) {
  Field f = field(key);
  return f.present && readStringMap(ctx_, f, out);
}

std::vector<MapReader::Entry> MapReader::rest() {
  std::vector<Entry> out;
  for (const auto& e : entries_) {
    if (used_.insert(e.key).second) out.push_back(e);
  }
  return out;
}

void MapReader::finish() {
  if (!valid_) return;
  for (const auto& e : entries_) {
    if (used_.count(e.key)) continue;
    ctx_.error(e.key_node.Mark(), path_, "unknown key '" + e.key + "'" + suggest(e.key, known_));
  }
  used_.clear();
  for (const auto& e : entries_) used_.insert(e.key);
}

}  // namespace sluice::manifest
