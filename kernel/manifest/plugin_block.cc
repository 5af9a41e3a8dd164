#include "manifest/plugin_config.h"
#include "manifest/sections.h"

namespace sluice::manifest {
namespace {

const char* kindWord(sluice_kind kind) {
  switch (kind) {
    case SLUICE_KIND_PROVIDER:
      return "provider";
    case SLUICE_KIND_ROUTING:
      return "routing";
    case SLUICE_KIND_GUARDRAIL:
      return "guardrail";
    case SLUICE_KIND_SINK:
      return "sink";
  }
  return "unknown";
}

}  // namespace

std::string checkPluginBlock(Context& ctx, sluice_kind kind, const std::string& plugin,
                             const Field& plugin_field, cJSON* json, const JsonOrigins& origins,
                             const Field& block, const std::vector<std::string>& also_known) {
  if (json == nullptr) return "";
  // Without a lookup (the built-in default, tools that only parse) blocks
  // pass through unchecked; the plugin loader checks them again anyway.
  if (ctx.schemas()) {
    const sluice_config_key* keys = nullptr;
    std::string why;
    if (!ctx.schemas()(kind, plugin, &keys, &why)) {
      ctx.error(plugin_field.mark, plugin_field.path,
                why.empty() ? "no " + std::string(kindWord(kind)) + " plugin named '" + plugin + "'"
                            : why);
    } else {
      Mark base = ctx.mark(block.mark);
      checkConfigObject(json, keys, &origins, base, block.path, ctx.errors(), also_known);
    }
  }
  return printJson(json);
}

}  // namespace sluice::manifest
