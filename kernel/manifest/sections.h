// The section parsers of the manifest, one per top-level key (or a few
// related keys), called by the loader in dependency order so that later
// sections can check references against earlier ones.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "manifest/config.h"
#include "manifest/reader.h"
#include "manifest/yaml_json.h"

namespace sluice::manifest {

// What earlier sections defined, for checking references in later ones.
struct Catalog {
  std::map<std::string, std::set<std::string>> provider_models;  // provider -> model names
  std::set<std::string> virtual_models;
  struct Declared {
    Mark mark;
    std::string path;
    std::string raw;  // as written (never an interpolated value)
  };
  std::map<std::string, Declared> virtual_model_at;
  bool has_auth = false;
  std::set<std::string> teams;
  std::set<std::string> guardrails;
  // Names that came from ${...} references: never offered as suggestions.
  std::set<std::string> hidden;

  void remember(std::set<std::string>* names, const std::string& name, const Field& f) {
    names->insert(name);
    if (hasRefs(f)) hidden.insert(name);
  }
  std::vector<std::string> visible(const std::set<std::string>& names) const;

  bool isModel(const std::string& full) const;  // "<provider>/<model>"
  bool isVirtualModel(const std::string& name) const { return virtual_models.count(name) > 0; }
  // Why `target` ("<provider>/<model>", read from `f`) names no configured
  // model, or "".
  std::string whyNotModel(const std::string& target, const Field& f) const;
  std::vector<std::string> allModels() const;
  // "unknown model 'x' (not a virtual model or a provider model)" + a suggestion.
  std::string unknownModel(const std::string& name,
                           const Field& f) const;  // provider models, then virtual models
};

// Reads a `when` clause. With `check_models`, exact model names (no '*')
// must be a virtual model or a provider model.
void readWhen(Context& ctx, const Field& f, const Catalog& catalog, bool check_models, When* out);

// Checks a plugin's config block against the schema the lookup knows for
// (kind, plugin); unknown plugins are reported at `plugin_field`. Returns
// the normalised JSON ("{}" for a null block).
std::string checkPluginBlock(Context& ctx, sluice_kind kind, const std::string& plugin,
                             const Field& plugin_field, cJSON* json, const JsonOrigins& origins,
                             const Field& block, const std::vector<std::string>& also_known = {});

void loadServer(Context& ctx, MapReader& root, ServerConfig* out);
void loadAdmin(Context& ctx, MapReader& root, AdminConfig* out);
void loadPluginRefs(Context& ctx, MapReader& root, std::vector<PluginRef>* out);
void loadProviders(Context& ctx, MapReader& root, Config* cfg, Catalog* catalog);
void loadVirtualModels(Context& ctx, MapReader& root, Config* cfg, Catalog* catalog);
void loadAuth(Context& ctx, MapReader& root, Config* cfg, Catalog* catalog);
void loadGuardrails(Context& ctx, MapReader& root, Config* cfg, Catalog* catalog);
void loadRouting(Context& ctx, MapReader& root, Config* cfg, const Catalog& catalog);
void loadRateLimits(Context& ctx, MapReader& root, Config* cfg, const Catalog& catalog);
void loadBudgets(Context& ctx, MapReader& root, Config* cfg, const Catalog& catalog);
void loadGuardrailRules(Context& ctx, MapReader& root, Config* cfg, const Catalog& catalog);
void loadPolicies(Context& ctx, MapReader& root, Config* cfg);
void loadSinks(Context& ctx, MapReader& root, Config* cfg);
void loadLogging(Context& ctx, MapReader& root, LoggingConfig* out);
void loadState(Context& ctx, MapReader& root, StateConfig* out);

// Records "duplicate <what> 'name' (first defined at line N)" when `name`
// was seen before; remembers it otherwise.
bool checkUnique(Context& ctx, std::map<std::string, Mark>* seen, const std::string& what,
                 const std::string& name, const Field& f);

}  // namespace sluice::manifest
