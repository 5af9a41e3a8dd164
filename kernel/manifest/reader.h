// The helpers every section parser uses: a Context that collects errors and
// expands references, typed readers for one value, and MapReader, which walks
// a YAML mapping, remembers which keys were asked for and reports the rest as
// unknown. Readers never throw; a value that does not fit records one error
// and leaves the output untouched.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "manifest/interpolate.h"
#include "manifest/loader.h"

namespace sluice::manifest {

std::string joinKey(const std::string& path, const std::string& key);
std::string joinIndex(const std::string& path, size_t index);
// " (did you mean 'x'?)" for the closest candidate, or "".
std::string suggest(const std::string& word, const std::vector<std::string>& candidates);
// A YAML integer: decimal, 0x hex or 0o octal, with an optional sign.
bool parseInt(const std::string& text, int64_t* out);
// "a mapping", "a list", "null", "a string".
std::string describe(const YAML::Node& node);

class Context {
 public:
  Context(std::string file, std::string base_dir, const SchemaLookup& schemas,
          std::vector<Error>* errors);

  Mark mark(const YAML::Mark& m) const;
  void error(const YAML::Mark& m, const std::string& path, std::string message);
  void error(const Mark& m, const std::string& path, std::string message);
  std::vector<Error>* errors() { return errors_; }

  // The scalar's text with ${...} expanded; records an error and returns
  // false when a reference cannot be resolved.
  bool scalarText(const YAML::Node& node, const YAML::Mark& at, const std::string& path,
                  std::string* out, bool* had_refs = nullptr);
  std::string resolvePath(const std::string& path) const;

  const std::string& file() const { return file_; }
  const SchemaLookup& schemas() const { return schemas_; }
  // Counts one JSON value built from YAML; false once the per-load cap is
  // reached (aliases can multiply a small file into a huge tree).
  bool spendJsonNode() { return json_nodes_left_ > 0 && json_nodes_left_-- > 0; }

 private:
  std::string file_;
  std::string base_dir_;
  const SchemaLookup& schemas_;
  std::vector<Error>* errors_;
  Interpolator interpolator_;
  size_t json_nodes_left_ = 50000;
};

// One value in the manifest: its node, where errors about it point, its path.
struct Field {
  YAML::Node node;
  YAML::Mark mark;      // the value's mark (the key's when the value is empty)
  YAML::Mark key_mark;  // the key's mark (the value's for list items)
  std::string path;
  bool present = false;
  // An absent key and an explicit null both mean "not given" for sections.
  bool given() const { return present && node.IsDefined() && !node.IsNull(); }
};

// A scalar's text as written in the manifest (see protectReferences).
inline std::string rawText(const YAML::Node& node) { return restoreReferences(node.Scalar()); }

// Whether the value's text holds a ${...} reference. Messages quote such
// values by their manifest text only, never by what they expand to.
bool hasRefs(const Field& f);

Field itemField(const YAML::Node& item, const YAML::Mark& list_mark, const std::string& path,
                size_t index);

// Typed readers for one value.
bool readString(Context& ctx, const Field& f, std::string* out, bool* had_refs = nullptr);
bool readInt(Context& ctx, const Field& f, int64_t min, int64_t max, int64_t* out);
bool readNumber(Context& ctx, const Field& f, double min, double max, double* out);
bool readBool(Context& ctx, const Field& f, bool* out);
bool readStringList(Context& ctx, const Field& f, std::vector<std::string>* out);
bool readStringMap(Context& ctx, const Field& f, std::map<std::string, std::string>* out);
bool readIntList(Context& ctx, const Field& f, int64_t min, int64_t max, std::vector<int>* out);
// A present key whose value is null or [].
bool isEmptyList(const Field& f);
// Calls fn for each item of a list; an explicit null counts as empty.
bool forEachItem(Context& ctx, const Field& f, const std::function<void(const Field&, size_t)>& fn);

// Maps `key` (named for messages) to one of `values`.
template <typename E>
bool readEnum(Context& ctx, const Field& f, const char* key,
              const std::vector<std::pair<const char*, E>>& values, E* out) {
  std::string text;
  if (!readString(ctx, f, &text)) return false;
  for (const auto& [name, value] : values) {
    if (text == name) {
      *out = value;
      return true;
    }
  }
  std::string list;
  for (const auto& [name, value] : values) list += (list.empty() ? "" : ", ") + std::string(name);
  ctx.error(f.mark, f.path,
            std::string(key) + " must be one of " + list + " (got '" + rawText(f.node) + "')");
  return false;
}

class MapReader {
 public:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
  };

  // A null node reads as an empty mapping; anything else that is not a
  // mapping records "expected a mapping".
  MapReader(Context& ctx, const Field& f);
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;

  bool valid() const { return valid_; }
  const std::string& path() const { return path_; }
  const YAML::Mark& mark() const { return mark_; }
  Context& ctx() { return ctx_; }

  // Declares `key` as known and returns its field (present == false when absent).
  Field field(const char* key);
  // Declares `key` and records "missing required key" when it is absent.
  Field require(const char* key);

  // Shorthands: declare, read when present. Return true when a value was read.
  bool str(const char* key, std::string* out, bool required = false, bool* had_refs = nullptr);
  bool integer(const char* key, int64_t min, int64_t max, int64_t* out, bool required = false);
  template <typename T>
  bool integral(const char* key, T* out, std::type_identity_t<T> min = 0,
                std::type_identity_t<T> max = std::numeric_limits<T>::max()) {
    int64_t v = 0;
    int64_t hi = static_cast<uint64_t>(max) > static_cast<uint64_t>(INT64_MAX)
                     ? INT64_MAX
                     : static_cast<int64_t>(max);
    if (!integer(key, static_cast<int64_t>(min), hi, &v)) return false;
    *out = static_cast<T>(v);
    return true;
  }
  bool number(const char* key, double min, double max, double* out, bool required = false);
  bool boolean(const char* key, bool* out);
  bool strList(const char* key, std::vector<std::string>* out);
  bool strMap(const char* key, std::map<std::string, std::string>* out);
  template <typename E>
  bool oneOf(const char* key, const std::vector<std::pair<const char*, E>>& values, E* out) {
    Field f = field(key);
    return f.present && readEnum(ctx_, f, key, values, out);
  }

  // Entries no getter asked for, in file order; they count as handled.
  std::vector<Entry> rest();
  // Records "unknown key" for every entry no getter asked for.
  void finish();

 private:
  Context& ctx_;
  YAML::Mark mark_;
  std::string path_;
  bool valid_ = false;
  std::vector<Entry> entries_;
  std::map<std::string, size_t> index_;
  std::vector<std::string> known_;
  std::set<std::string> used_;
};

}  // namespace sluice::manifest
