// Strategy `priority`: the lowest `priority` number first (manifest order
// among equals). A target with `sla_cutoff.time_per_output_token_ms` whose
// mean TPOT over its SLA window (3 minutes unless the target says otherwise)
// exceeds the cutoff counts as unhealthy and goes behind the healthy ones;
// it is healthy again once that mean is back under the cutoff, or once its
// window holds no samples.
#include <algorithm>
#include <new>

#include "common/draw.h"
#include "sluice/plugin.h"

namespace sluice::routing {
namespace {

constexpr size_t kMaxTargets = 64;

int create(const sluice_host*, const char*, void** instance, char*, size_t) {
  *instance = nullptr;  // stateless
  return SLUICE_OK;
}

void destroy(void*) {}

bool overSla(const sluice_target_stats& t) {
  return hasSlaFields(t) && t.sla_tpot_ms > 0 && t.tpot_samples_3m > 0 &&
         t.tpot_ms_3m > t.sla_tpot_ms;
}

int order(void*, const sluice_target_stats* targets, size_t n, sluice_str, uint32_t* out) {
  if (n > kMaxTargets) return SLUICE_ERR;
  for (size_t i = 0; i < n; i++) out[i] = static_cast<uint32_t>(i);
  auto rank = [targets](uint32_t i) {
    const sluice_target_stats& t = targets[i];
    return (t.healthy ? 0 : 2) + (overSla(t) ? 1 : 0);
  };
  std::stable_sort(out, out + n, [&](uint32_t a, uint32_t b) {
    int ra = rank(a), rb = rank(b);
    if (ra != rb) return ra < rb;
    return targets[a].priority < targets[b].priority;
  });
  return static_cast<int>(n);
}

const sluice_routing_vtable kVtable = {sizeof(sluice_routing_vtable), create, destroy, order};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_ROUTING,
    "priority",
    "1.0.0",
    "Tries targets by `priority`, lowest first; a target over its "
    "sla_cutoff.time_per_output_token_ms (mean TPOT over its SLA window) goes last until it "
    "recovers.",
    nullptr,
    &kVtable,
};

}  // namespace
}  // namespace sluice::routing

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::routing::kDescriptor;
}
