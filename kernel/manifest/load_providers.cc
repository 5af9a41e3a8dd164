// providers: and virtual_models:.
#include <cctype>

#include "manifest/sections.h"

namespace sluice::manifest {
namespace {

bool validProviderName(const std::string& name) {
  if (name.empty() || !isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (unsigned char c : name) {
    if (!isalnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

bool validModelName(const std::string& name) {
  return !name.empty() && name.find_first_of(" \t\r\n") == std::string::npos;
}

void loadPricing(Context& ctx, const Field& f, std::optional<Pricing>* out) {
  if (!f.given()) return;
  MapReader m(ctx, f);
  if (!m.valid()) return;
  constexpr double kMaxPrice = 1e6;  // USD per million tokens
  Pricing p;
  m.number("input_per_mtok", 0, kMaxPrice, &p.input_per_mtok);
  m.number("output_per_mtok", 0, kMaxPrice, &p.output_per_mtok);
  if (!m.number("cached_input_per_mtok", 0, kMaxPrice, &p.cached_input_per_mtok)) {
    p.cached_input_per_mtok = p.input_per_mtok;
  }
  m.finish();
  *out = p;
}

// A model is a bare name or {name, upstream_name, pricing, max_output_tokens}.
bool loadModel(Context& ctx, const Field& item, ModelConfig* out, Field* name_field) {
  out->mark = ctx.mark(item.mark);
  *name_field = item;
  bool ok = true;
  if (item.node.IsScalar()) {
    ok = readString(ctx, item, &out->name);
  } else {
    MapReader m(ctx, item);
    if (!m.valid()) return false;
    *name_field = m.require("name");
    ok = name_field->present && readString(ctx, *name_field, &out->name);
    m.str("upstream_name", &out->upstream_name);
    loadPricing(ctx, m.field("pricing"), &out->pricing);
    m.integer("max_output_tokens", 1, 100000000, &out->max_output_tokens);
    m.finish();
  }
  if (!ok) return false;
  if (!validModelName(out->name)) {
    ctx.error(name_field->mark, name_field->path,
              "a model name must be non-empty and without spaces");
    return false;
  }
  if (out->upstream_name.empty()) out->upstream_name = out->name;
  return true;
}

}  // namespace

void loadProviders(Context& ctx, MapReader& root, Config* cfg, Catalog* catalog) {
  Field list = root.require("providers");
  if (!list.present) return;
  std::map<std::string, Mark> names;
  forEachItem(ctx, list, [&](const Field& item, size_t) {
    MapReader m(ctx, item);
    if (!m.valid()) return;
    ProviderConfig p;
    p.mark = ctx.mark(item.mark);
    Field name = m.require("name");
    bool name_ok = name.present && readString(ctx, name, &p.name);
    if (name_ok && !validProviderName(p.name)) {
      ctx.error(name.mark, name.path,
                "a provider name may use letters, digits, '.', '_' and '-' (it prefixes model "
                "names as <provider>/<model>)");
      name_ok = false;
    }
    if (name_ok) name_ok = checkUnique(ctx, &names, "provider name", p.name, name);
    Field type = m.require("type");
    bool type_ok = type.present && readString(ctx, type, &p.type);

    Field models = m.require("models");
    std::map<std::string, Mark> model_names;
    std::vector<Field> model_fields;
    forEachItem(ctx, models, [&](const Field& mf, size_t) {
      ModelConfig model;
      Field model_name;
      if (!loadModel(ctx, mf, &model, &model_name)) return;
      if (!checkUnique(ctx, &model_names, "model", model.name, model_name)) return;
      p.models.push_back(std::move(model));
      model_fields.push_back(model_name);
    });
    if (isEmptyList(models)) ctx.error(models.mark, models.path, "must list at least one model");

    // Every other key belongs to the provider plugin.
    JsonOrigins origins;
    JsonPtr json = entriesToJson(ctx, item, m.rest(), &origins);
    if (type_ok) {
      p.plugin_config_json = checkPluginBlock(ctx, SLUICE_KIND_PROVIDER, p.type, type, json.get(),
                                              origins, item, {"name", "type", "models"});
    }
    if (name_ok) {
      auto& known = catalog->provider_models[p.name];
      if (hasRefs(name)) catalog->hidden.insert(p.name);
      for (size_t i = 0; i < p.models.size(); ++i) {
        catalog->remember(&known, p.models[i].name, model_fields[i]);
      }
    }
    cfg->providers.push_back(std::move(p));
  });
  if (isEmptyList(list)) ctx.error(list.mark, list.path, "must list at least one provider");
}

void loadVirtualModels(Context& ctx, MapReader& root, Config* cfg, Catalog* catalog) {
  std::map<std::string, Mark> seen;
  forEachItem(ctx, root.field("virtual_models"), [&](const Field& item, size_t) {
    std::string name;
    if (!readString(ctx, item, &name)) return;
    if (!validModelName(name)) {
      return ctx.error(item.mark, item.path, "a model name must be non-empty and without spaces");
    }
    if (catalog->isModel(name)) {
      return ctx.error(
          item.mark, item.path,
          "virtual model '" + rawText(item.node) + "' has the name of a provider model");
    }
    if (!checkUnique(ctx, &seen, "virtual model", name, item)) return;
    catalog->remember(&catalog->virtual_models, name, item);
    catalog->virtual_model_at[name] = {ctx.mark(item.mark), item.path, rawText(item.node)};
    cfg->virtual_models.push_back(name);
  });
}

}  // namespace sluice::manifest
