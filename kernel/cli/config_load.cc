#include "cli/config_load.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "manifest/loader.h"

namespace sluice::cli {
namespace {

std::string markText(const std::string& file, const YAML::Mark& m) {
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": ";
}

// Loads each `plugins:` entry by path. The manifest loader checks the
// section's shape itself; here only what dlopen needs is read.
void preloadPlugins(const std::string& path, plugins::Registry* registry,
                    std::vector<std::string>* errors) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception&) {
    return;  // the loader reports syntax errors with their position
  }
  if (!root.IsMap() || !root["plugins"] || !root["plugins"].IsSequence()) return;
  std::filesystem::path base = std::filesystem::path(path).parent_path();
  const YAML::Node list = root["plugins"];
  for (size_t i = 0; i < list.size(); i++) {
    const YAML::Node entry = list[i];
    if (!entry.IsMap() || !entry["path"] || !entry["path"].IsScalar()) continue;
    std::string name = entry["name"] && entry["name"].IsScalar() ? entry["name"].Scalar() : "";
    std::string version =
        entry["version"] && entry["version"].IsScalar() ? entry["version"].Scalar() : "";
    std::filesystem::path p = entry["path"].Scalar();
    if (p.is_relative()) p = base / p;
    std::string why;
    if (!registry->loadPath(p.lexically_normal().string(), name, version, &why)) {
      errors->push_back(markText(path, entry["path"].Mark()) + "plugins[" + std::to_string(i) +
                        "].path: " + why);
    }
  }
}

}  // namespace

std::shared_ptr<const manifest::Config> loadConfig(const std::string& path,
                                                   plugins::Registry* registry,
                                                   std::vector<std::string>* errors) {
  manifest::SchemaLookup lookup = [registry](sluice_kind kind, const std::string& name,
                                             const sluice_config_key** keys, std::string* why) {
    const plugins::Plugin* p = registry->find(kind, name, why);
    if (!p) return false;
    *keys = p->descriptor->config;
    return true;
  };
  size_t before = errors->size();
  manifest::LoadResult result;
  if (path.empty()) {
    result = manifest::loadString(manifest::builtinDefaultYaml(), "<built-in default>", lookup);
  } else {
    preloadPlugins(path, registry, errors);
    result = manifest::loadFile(path, lookup);
  }
  for (const auto& e : result.errors) errors->push_back(e.str());
  if (errors->size() != before) return nullptr;
  return std::make_shared<const manifest::Config>(std::move(result.config));
}

}  // namespace sluice::cli
