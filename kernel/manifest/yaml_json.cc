#include "manifest/yaml_json.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace sluice::manifest {
namespace {

constexpr int kMaxDepth = 64;

bool allDigits(const std::string& s, size_t from, size_t to) {
  if (from >= to) return false;
  for (size_t i = from; i < to; ++i) {
    if (!isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

// [-+]? ( digits | digits '.' digits? | '.' digits ) ( [eE] [-+]? digits )?
bool isYamlNumber(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  size_t exp = s.find_first_of("eE", i);
  if (exp != std::string::npos) {
    size_t e = exp + 1;
    if (e < s.size() && (s[e] == '-' || s[e] == '+')) ++e;
    if (!allDigits(s, e, s.size())) return false;
  } else {
    exp = s.size();
  }
  size_t dot = s.find('.', i);
  if (dot == std::string::npos || dot > exp) return allDigits(s, i, exp);
  bool before = allDigits(s, i, dot) || dot == i;
  bool after = allDigits(s, dot + 1, exp) || dot + 1 == exp;
  return before && after && !(dot == i && dot + 1 == exp);
}

// The YAML 1.2 core schema's resolution of an untagged plain scalar.
cJSON* typedScalar(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return cJSON_CreateNull();
  }
  if (text == "true" || text == "True" || text == "TRUE") return cJSON_CreateTrue();
  if (text == "false" || text == "False" || text == "FALSE") return cJSON_CreateFalse();
  if (isYamlNumber(text)) {
    double v = std::strtod(text.c_str(), nullptr);
    if (std::isfinite(v)) return cJSON_CreateNumber(v);
  }
  return cJSON_CreateString(text.c_str());
}

class Converter {
 public:
  Converter(Context& ctx, JsonOrigins* origins, bool quiet)
      : ctx_(ctx), origins_(origins), quiet_(quiet) {}

  JsonPtr convert(const Field& f, const std::string& rel, int depth) {
    if (failed_) return nullptr;
    if (depth > kMaxDepth) return fail(f, "nested too deeply (more than 64 levels)");
    if (!ctx_.spendJsonNode()) return fail(f, "too large once aliases are expanded");
    JsonOrigin origin{ctx_.mark(f.mark), ctx_.mark(f.key_mark), false, false, ""};
    JsonPtr out;
    switch (f.node.Type()) {
      case YAML::NodeType::Map:
        out = convertMap(f, rel, depth);
        break;
      case YAML::NodeType::Sequence:
        out = convertList(f, rel, depth);
        break;
      case YAML::NodeType::Scalar:
        out = convertScalar(f, &origin);
        break;
      default:
        out.reset(cJSON_CreateNull());
        break;
    }
    if (out && origins_) (*origins_)[rel] = origin;
    return out;
  }

  bool unresolved() const { return bad_; }

  bool addEntry(cJSON* obj, const MapReader::Entry& e, const std::string& parent_path,
                const std::string& parent_rel, int depth) {
    Field child;
    child.node = e.value;
    child.key_mark = e.key_node.Mark();
    child.mark = e.value.IsNull() ? child.key_mark : e.value.Mark();
    child.path = joinKey(parent_path, e.key);
    child.present = true;
    JsonPtr value = convert(child, joinKey(parent_rel, e.key), depth + 1);
    if (!value) return false;
    cJSON_AddItemToObject(obj, e.key.c_str(), value.release());
    return true;
  }

 private:
  JsonPtr fail(const Field& f, const std::string& why) {
    failed_ = true;
    report(f.mark, f.path, why);
    return nullptr;
  }

  void report(const YAML::Mark& m, const std::string& path, const std::string& why) {
    if (!quiet_) ctx_.error(m, path, why);
  }

  JsonPtr convertMap(const Field& f, const std::string& rel, int depth) {
    JsonPtr obj(cJSON_CreateObject());
    std::map<std::string, bool> seen;
    for (auto it = f.node.begin(); it != f.node.end(); ++it) {
      if (!it->first.IsScalar()) return fail(f, "keys must be strings, got " + describe(it->first));
      MapReader::Entry e{rawText(it->first), it->first, it->second};
      if (seen[e.key]) {
        report(e.key_node.Mark(), f.path, "duplicate key '" + e.key + "'");
        continue;
      }
      seen[e.key] = true;
      if (!addEntry(obj.get(), e, f.path, rel, depth)) return nullptr;
    }
    return obj;
  }

  JsonPtr convertList(const Field& f, const std::string& rel, int depth) {
    JsonPtr arr(cJSON_CreateArray());
    size_t i = 0;
    for (const auto& item : f.node) {
      JsonPtr value = convert(itemField(item, f.mark, f.path, i), joinIndex(rel, i), depth + 1);
      if (!value) return nullptr;
      cJSON_AddItemToArray(arr.get(), value.release());
      ++i;
    }
    return arr;
  }

  JsonPtr convertScalar(const Field& f, JsonOrigin* origin) {
    std::string text;
    bool refs = false;
    if (!expand(f, &text, &refs)) {
      bad_ = true;  // keep walking: every unresolved reference gets its error
      return JsonPtr(cJSON_CreateNull());
    }
    origin->interpolated = refs;
    origin->text = text;
    origin->plain = f.node.Tag() == "?";
    if (origin->plain) return JsonPtr(typedScalar(text));
    return JsonPtr(cJSON_CreateString(text.c_str()));
  }

  bool expand(const Field& f, std::string* text, bool* refs) {
    if (!quiet_) return ctx_.scalarText(f.node, f.mark, f.path, text, refs);
    size_t before = ctx_.errors()->size();
    bool ok = ctx_.scalarText(f.node, f.mark, f.path, text, refs);
    ctx_.errors()->resize(before);
    return ok;
  }

  Context& ctx_;
  JsonOrigins* origins_;
  bool quiet_;
  bool failed_ = false;  // a limit was hit: stop at once
  bool bad_ = false;     // a reference did not resolve: the result is unusable
};

}  // namespace

JsonPtr yamlToJson(Context& ctx, const Field& f, const std::string& rel, JsonOrigins* origins,
                   bool quiet) {
  Converter c(ctx, origins, quiet);
  JsonPtr out = c.convert(f, rel, 0);
  if (c.unresolved() && !quiet) return nullptr;
  return out;
}

JsonPtr entriesToJson(Context& ctx, const Field& base, const std::vector<MapReader::Entry>& entries,
                      JsonOrigins* origins) {
  Converter c(ctx, origins, false);
  JsonPtr obj(cJSON_CreateObject());
  if (origins)
    (*origins)[""] = JsonOrigin{ctx.mark(base.mark), ctx.mark(base.key_mark), false, false, ""};
  for (const auto& e : entries) {
    if (!c.addEntry(obj.get(), e, base.path, "", 0)) return nullptr;
  }
  if (c.unresolved()) return nullptr;
  return obj;
}

std::string printJson(const cJSON* json) {
  if (json == nullptr) return "";
  char* text = cJSON_PrintUnformatted(json);
  if (text == nullptr) return "";
  std::string out(text);
  cJSON_free(text);
  return out;
}

}  // namespace sluice::manifest
