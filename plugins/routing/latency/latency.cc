// Strategy `latency`: prefers the target with the lowest recent time per
// output token (TPOT, the host's 20-minute mean). Targets within
// `equal_within` times the fastest count as equally fast and share the
// traffic at random; a target with fewer than `min_samples` recent samples
// joins them, so it gets traffic until it is measured. The others follow as
// fallbacks, fastest first.
#include <cjson/cJSON.h>

#include <algorithm>
#include <new>

#include "common/draw.h"
#include "sluice/plugin.h"

namespace sluice::routing {
namespace {

constexpr size_t kMaxTargets = 64;

struct Instance {
  const sluice_host* host;
  double equal_within = 1.2;
  uint32_t min_samples = 3;
};

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  auto* inst = new (std::nothrow) Instance{host};
  if (!inst) {
    setError(err, err_len, "out of memory");
    return SLUICE_ERR;
  }
  // The host checked the keys against kConfig and filled the defaults.
  if (cJSON* cfg = cJSON_Parse(config_json ? config_json : "{}")) {
    const cJSON* within = cJSON_GetObjectItemCaseSensitive(cfg, "equal_within");
    if (cJSON_IsNumber(within)) inst->equal_within = within->valuedouble;
    const cJSON* samples = cJSON_GetObjectItemCaseSensitive(cfg, "min_samples");
    if (cJSON_IsNumber(samples)) inst->min_samples = static_cast<uint32_t>(samples->valuedouble);
    cJSON_Delete(cfg);
  }
  *instance = inst;
  return SLUICE_OK;
}

void destroy(void* instance) { delete static_cast<Instance*>(instance); }

int order(void* instance, const sluice_target_stats* targets, size_t n, sluice_str sticky_key,
          uint32_t* out) {
  if (n > kMaxTargets) return SLUICE_ERR;
  const Instance* inst = static_cast<const Instance*>(instance);
  auto measured = [inst](const sluice_target_stats& t) {
    return t.tpot_samples >= inst->min_samples;
  };
  double fastest = -1;
  for (size_t i = 0; i < n; i++) {
    if (targets[i].healthy && measured(targets[i]) &&
        (fastest < 0 || targets[i].tpot_ms < fastest)) {
      fastest = targets[i].tpot_ms;
    }
  }
  uint32_t group[kMaxTargets], rest[kMaxTargets], down[kMaxTargets];
  size_t groups = 0, rests = 0, downs = 0;
  for (size_t i = 0; i < n; i++) {
    const sluice_target_stats& t = targets[i];
    uint32_t index = static_cast<uint32_t>(i);
    if (!t.healthy) {
      down[downs++] = index;
    } else if (!measured(t) || fastest < 0 || t.tpot_ms <= fastest * inst->equal_within) {
      group[groups++] = index;
    } else {
      rest[rests++] = index;
    }
  }
  // The equally fast share the traffic: each takes the lead in turn, at random.
  Draw draw(inst->host, sticky_key);
  size_t lead = static_cast<size_t>(draw.below(groups));
  size_t count = 0;
  for (size_t k = 0; k < groups; k++) out[count++] = group[(lead + k) % groups];
  std::stable_sort(rest, rest + rests, [targets](uint32_t a, uint32_t b) {
    return targets[a].tpot_ms < targets[b].tpot_ms;
  });
  for (size_t k = 0; k < rests; k++) out[count++] = rest[k];
  for (size_t k = 0; k < downs; k++) out[count++] = down[k];
  return static_cast<int>(count);
}

const sluice_config_key kConfig[] = {
    {"equal_within", SLUICE_CFG_NUMBER, 0, "1.2", 1, 10, nullptr, nullptr,
     "targets whose TPOT is within this factor of the fastest share the traffic"},
    {"min_samples", SLUICE_CFG_INT, 0, "3", 1, 1000, nullptr, nullptr,
     "a target with fewer recent TPOT samples still gets traffic, to be measured"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr},
};

const sluice_routing_vtable kVtable = {sizeof(sluice_routing_vtable), create, destroy, order};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_ROUTING,
    "latency",
    "1.0.0",
    "Prefers the lowest time per output token over the last 20 minutes; targets within "
    "equal_within of the fastest, and those not yet measured, share the traffic.",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::routing

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::routing::kDescriptor;
}
