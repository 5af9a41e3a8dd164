// Plugin loading and lookup. Built-in plugins live as <dir>/<kind>/<name>.so
// in the search directories (beside the binary); out-of-tree plugins come from the
// manifest's `plugins:` entries by path. Every load goes through the same
// checks of the descriptor (magic, ABI major/minor, struct size, kind, name,
// version constraint, duplicate name), and every refusal is one line naming
// the file and the reason.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sluice/plugin.h"

namespace sluice::plugins {

struct Plugin {
  std::string name;
  std::string version;
  std::string path;
  sluice_kind kind;
  const sluice_plugin_descriptor* descriptor = nullptr;
  const void* vtable() const { return descriptor->vtable; }
};

const char* kindName(sluice_kind kind);  // "provider", "routing", "guardrail", "sink"
// Where built-ins of a kind live under a plugin folder: "providers", "routing",
// "guardrails", "sinks" (as in the source tree).
const char* kindDir(sluice_kind kind);

// Semantic-version constraints: "1.2.3" (exact), "^1.2" (>=1.2.0 <2.0.0),
// "~1.2" (>=1.2.0 <1.3.0), ">=1.0", "*" or "" (any).
bool versionSatisfies(const std::string& version, const std::string& constraint,
                      std::string* why);

class Registry {
 public:
  explicit Registry(std::vector<std::string> search_dirs);
  ~Registry();  // dlcloses everything it opened
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The folders holding built-in plugins for the running binary:
  // <exe dir>/plugins and <exe dir>/../lib/sluice/plugins.
  static std::vector<std::string> defaultSearchDirs();

  // Loads an out-of-tree plugin. `expected_name` (may be empty) must match
  // the descriptor's name. On refusal returns nullptr and sets *error to
  // "<path>: <reason>".
  const Plugin* loadPath(const std::string& path, const std::string& expected_name,
                         const std::string& version_constraint, std::string* error);

  // Finds a plugin by kind and name: one already loaded, or a built-in
  // <name>.so from the search dirs. nullptr with *error when none fits.
  const Plugin* find(sluice_kind kind, const std::string& name, std::string* error);

  // Loads every built-in found in the search dirs (for `sluice plugins`);
  // refusals are appended to *errors, one line each.
  std::vector<const Plugin*> loadAllBuiltins(std::vector<std::string>* errors);

  // Everything loaded so far (built-in or by path), sorted by name.
  std::vector<const Plugin*> loaded() const;

  const std::vector<std::string>& searchDirs() const { return dirs_; }

 private:
  const Plugin* open(const std::string& path, const std::string& expected_name,
                     const std::string& version_constraint, std::string* error);
  std::vector<std::string> dirs_;
  // Names are unique per kind (a guardrail and a sink may share one).
  using Key = std::pair<sluice_kind, std::string>;
  std::map<Key, std::unique_ptr<Plugin>> by_name_;
  std::vector<void*> handles_;
};

}  // namespace sluice::plugins
