#include "pipeline/gateway.h"

#include "pipeline/errors.h"
#include "plugins/host.h"

namespace sluice::pipeline {

std::shared_ptr<Gateway> Gateway::build(std::shared_ptr<const manifest::Config> config,
                                        plugins::Registry* registry,
                                        std::vector<std::string>* errors,
                                        std::shared_ptr<TargetStatsTable> stats) {
  std::shared_ptr<Gateway> gw(new Gateway());
  gw->config_ = config;
  size_t before = errors->size();
  for (const auto& pc : config->providers) {
    std::string why;
    const plugins::Plugin* plugin = registry->find(SLUICE_KIND_PROVIDER, pc.type, &why);
    if (!plugin) {
      errors->push_back("provider '" + pc.name + "': " + why);
      continue;
    }
    auto inst = std::make_unique<ProviderInstance>();
    inst->name = pc.name;
    inst->type = pc.type;
    inst->vt = static_cast<const sluice_provider_vtable*>(plugin->vtable());
    if (!inst->vt || inst->vt->struct_size < sizeof(uint32_t) || !inst->vt->create ||
        !inst->vt->build_request) {
      errors->push_back("provider '" + pc.name + "': plugin '" + pc.type +
                        "' has an incomplete provider table");
      continue;
    }
    char err[512] = {0};
    std::string cfg = pc.plugin_config_json.empty() ? "{}" : pc.plugin_config_json;
    if (inst->vt->create(plugins::hostServices(), cfg.c_str(), &inst->instance, err,
                         sizeof err) != SLUICE_OK) {
      errors->push_back("provider '" + pc.name + "' (" + pc.type + "): " +
                        (err[0] ? err : "create failed"));
      continue;
    }
    ProviderInstance* p = inst.get();
    gw->providers_.push_back(std::move(inst));
    for (const auto& mc : pc.models) {
      ModelEntry e;
      e.id = pc.name + "/" + mc.name;
      e.upstream_name = mc.upstream_name.empty() ? mc.name : mc.upstream_name;
      e.provider = p;
      e.config = &mc;
      gw->models_.emplace(e.id, std::move(e));
    }
  }
  gw->policies_ = lua::Policies::load(config->policies, errors);
  gw->guardrails_ = GuardrailSet::build(*config, registry, errors);
  if (errors->size() != before) return nullptr;

  gw->target_stats_ = stats ? std::move(stats) : std::make_shared<TargetStatsTable>();
  Gateway* raw = gw.get();
  gw->router_ = Router::build(
      *config, [raw](std::string_view id) { return raw->findModel(id); },
      [registry](const std::string& name, uint16_t* abi_minor, std::string* why) {
        const plugins::Plugin* p = registry->find(SLUICE_KIND_ROUTING, name, why);
        if (!p) return static_cast<const sluice_routing_vtable*>(nullptr);
        *abi_minor = p->descriptor->abi_minor;
        return static_cast<const sluice_routing_vtable*>(p->vtable());
      },
      gw->target_stats_.get(), errors);
  if (!gw->router_) return nullptr;

  gw->directory_ = std::make_unique<governance::Directory>(config->auth);
  gw->policy_ = std::make_unique<governance::Policy>(*config, kCounterKeyPrefix);
  gw->models_json_ = gw->modelsJsonFor(gw->directory_->anonymous());
  return gw;
}

// The model list, in manifest order, of what `caller` may use: virtual
// models first, then provider models.
std::string Gateway::modelsJsonFor(const governance::Principal& caller) const {
  std::string js = "{\"object\":\"list\",\"data\":[";
  bool first = true;
  for (const auto& name : config_->virtual_models) {
    if (!directory_->mayUse(caller, name)) continue;
    if (!first) js.push_back(',');
    first = false;
    js.append("{\"id\":");
    appendJsonString(&js, name);
    js.append(",\"object\":\"model\",\"created\":0,\"owned_by\":\"sluice\"}");
  }
  for (const auto& pc : config_->providers) {
    for (const auto& mc : pc.models) {
      std::string id = pc.name + "/" + mc.name;
      if (!directory_->mayUse(caller, id)) continue;
      if (!first) js.push_back(',');
      first = false;
      js.append("{\"id\":");
      appendJsonString(&js, id);
      js.append(",\"object\":\"model\",\"created\":0,\"owned_by\":");
      appendJsonString(&js, pc.name);
      js.push_back('}');
    }
  }
  js.append("]}");
  return js;
}

Gateway::~Gateway() {
  for (auto& p : providers_) {
    if (p->vt && p->vt->destroy && p->instance) p->vt->destroy(p->instance);
  }
}

const ModelEntry* Gateway::findModel(std::string_view id) const {
  auto it = models_.find(id);
  return it == models_.end() ? nullptr : &it->second;
}

bool Gateway::stripBasePath(std::string_view path, std::string_view* rest) const {
  for (const auto& base : config_->server.base_paths) {
    if (path.size() > base.size() && path.compare(0, base.size(), base) == 0 &&
        path[base.size()] == '/') {
      *rest = path.substr(base.size());
      return true;
    }
  }
  return false;
}

}  // namespace sluice::pipeline

namespace sluice::pipeline {

void GatewayHolder::set(std::shared_ptr<Gateway> gw) {
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(gw);
  generation_.fetch_add(1, std::memory_order_release);
}

std::shared_ptr<Gateway> GatewayHolder::get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

}  // namespace sluice::pipeline
