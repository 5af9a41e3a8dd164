#include "manifest/loader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "manifest/interpolate.h"
#include "manifest/sections.h"
#include "manifest/yaml_parse.h"

namespace sluice::manifest {
namespace {

constexpr int kVersion = 1;

// The folder relative paths in a manifest called `name` resolve against.
std::string folderOf(const std::string& name) {
  std::error_code ec;
  if (name.find('/') == std::string::npos) {
    std::filesystem::path cwd = std::filesystem::current_path(ec);
    return ec ? std::string(".") : cwd.string();
  }
  std::filesystem::path abs = std::filesystem::absolute(name, ec);
  if (ec) abs = name;
  return abs.parent_path().lexically_normal().string();
}

void loadSections(Context& ctx, const YAML::Node& root, Config* cfg) {
  Field top;
  top.node = root;
  top.mark = root.Mark();
  top.key_mark = root.Mark();
  top.present = true;
  if (!root.IsMap()) {
    ctx.error(root.Mark(), "", "expected a mapping at the top level, got " + describe(root));
    return;
  }
  MapReader m(ctx, top);
  Field version = m.require("version");
  int64_t v = 0;
  if (version.present && readInt(ctx, version, INT64_MIN, INT64_MAX, &v) && v != kVersion) {
    // Another version's keys mean other things: stop before misreading them.
    return ctx.error(version.mark, version.path,
                     "unsupported version " + std::to_string(v) + " (this build reads version " +
                         std::to_string(kVersion) + ")");
  }
  cfg->version = kVersion;

  // Order matters: later sections check references against earlier ones.
  Catalog catalog;
  loadServer(ctx, m, &cfg->server);
  loadAdmin(ctx, m, &cfg->admin);
  loadPluginRefs(ctx, m, &cfg->plugins);
  m.strMap("default_metadata", &cfg->default_metadata);
  m.strList("required_metadata", &cfg->required_metadata);
  loadProviders(ctx, m, cfg, &catalog);
  loadVirtualModels(ctx, m, cfg, &catalog);
  loadAuth(ctx, m, cfg, &catalog);
  loadGuardrails(ctx, m, cfg, &catalog);
  loadRouting(ctx, m, cfg, catalog);
  loadRateLimits(ctx, m, cfg, catalog);
  loadBudgets(ctx, m, cfg, catalog);
  loadGuardrailRules(ctx, m, cfg, catalog);
  loadPolicies(ctx, m, cfg);
  loadSinks(ctx, m, cfg);
  loadLogging(ctx, m, &cfg->logging);
  loadState(ctx, m, &cfg->state);
  m.finish();
}

LoadResult loadText(const std::string& yaml, const std::string& file, const std::string& base_dir,
                    const SchemaLookup& schemas) {
  LoadResult result;
  Context ctx(file, base_dir, schemas, &result.errors);
  size_t control = yaml.find_first_of(std::string{kRefOpen, kRefClose});
  if (control != std::string::npos) {
    int line = 1 + static_cast<int>(std::count(yaml.begin(), yaml.begin() + control, '\n'));
    size_t line_start = yaml.rfind('\n', control);
    int col =
        static_cast<int>(control - (line_start == std::string::npos ? 0 : line_start + 1)) + 1;
    ctx.error(Mark{file, line, col}, "", "control characters are not allowed in a manifest");
    return result;
  }
  try {
    YAML::Node root;
    YAML::Mark at;
    std::string why;
    if (!parseSingleDocument(protectReferences(yaml), &root, &at, &why)) {
      ctx.error(at, "", why);
    } else if (!root.IsDefined() || root.IsNull()) {
      ctx.error(Mark{file, 1, 1}, "", "the manifest is empty");
    } else {
      loadSections(ctx, root, &result.config);
    }
  } catch (const YAML::Exception& e) {
    // Reading nodes should not throw; if yaml-cpp disagrees, say where.
    ctx.error(e.mark, "", e.msg);
  } catch (const std::exception& e) {
    ctx.error(Mark{file, 0, 0}, "", std::string("cannot load the manifest: ") + e.what());
  }
  std::stable_sort(result.errors.begin(), result.errors.end(), [](const Error& a, const Error& b) {
    return std::tie(a.mark.line, a.mark.col) < std::tie(b.mark.line, b.mark.col);
  });
  return result;
}

}  // namespace

std::string Error::str() const {
  std::string out = mark.file;
  if (mark.line > 0) out += ":" + std::to_string(mark.line) + ":" + std::to_string(mark.col);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  return out + message;
}

LoadResult loadFile(const std::string& path, const SchemaLookup& schemas) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult result;
    result.errors.push_back(
        Error{Mark{path, 0, 0}, "",
              std::string("cannot read the manifest (") + std::strerror(errno) + ")"});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  LoadResult result = loadText(text.str(), path, folderOf(path), schemas);
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  result.config.source_file = ec ? path : abs.lexically_normal().string();
  return result;
}

LoadResult loadString(const std::string& yaml, const std::string& name,
                      const SchemaLookup& schemas) {
  LoadResult result = loadText(yaml, name, folderOf(name), schemas);
  result.config.source_file = name;
  return result;
}

}  // namespace sluice::manifest
