#include "manifest/sections.h"

namespace sluice::manifest {

bool Catalog::isModel(const std::string& full) const {
  size_t slash = full.find('/');
  if (slash == std::string::npos) return false;
  auto it = provider_models.find(full.substr(0, slash));
  return it != provider_models.end() && it->second.count(full.substr(slash + 1)) > 0;
}

std::vector<std::string> Catalog::visible(const std::set<std::string>& names) const {
  std::vector<std::string> out;
  for (const auto& n : names) {
    if (!hidden.count(n)) out.push_back(n);
  }
  return out;
}

std::string Catalog::whyNotModel(const std::string& target, const Field& f) const {
  if (isModel(target)) return "";
  if (hasRefs(f)) return "'" + rawText(f.node) + "' names no configured provider model";
  size_t slash = target.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == target.size()) {
    return "'" + target + "' is not of the form <provider>/<model>";
  }
  std::string provider = target.substr(0, slash);
  std::string model = target.substr(slash + 1);
  auto it = provider_models.find(provider);
  if (it == provider_models.end()) {
    std::set<std::string> names;
    for (const auto& [name, models] : provider_models) names.insert(name);
    return "unknown provider '" + provider + "' in '" + target + "'" +
           suggest(provider, visible(names));
  }
  return "provider '" + provider + "' has no model '" + model + "'" +
         suggest(model, visible(it->second));
}

std::vector<std::string> Catalog::allModels() const {
  std::set<std::string> all(virtual_models);
  for (const auto& [provider, models] : provider_models) {
    if (hidden.count(provider)) continue;
    for (const auto& m : models) {
      if (!hidden.count(m)) all.insert(provider + "/" + m);
    }
  }
  return visible(all);
}

std::string Catalog::unknownModel(const std::string& name, const Field& f) const {
  return "unknown model '" + rawText(f.node) + "' (not a virtual model or a provider model)" +
         suggest(name, allModels());
}

bool checkUnique(Context& ctx, std::map<std::string, Mark>* seen, const std::string& what,
                 const std::string& name, const Field& f) {
  auto [it, inserted] = seen->emplace(name, ctx.mark(f.mark));
  if (inserted) return true;
  std::string shown = f.node.IsScalar() ? rawText(f.node) : name;
  ctx.error(f.mark, f.path,
            "duplicate " + what + " '" + shown + "' (first defined at line " +
                std::to_string(it->second.line) + ")");
  return false;
}

}  // namespace sluice::manifest
