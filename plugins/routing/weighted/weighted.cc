// Strategy `weighted`: each request goes first to a target drawn with
// probability weight / (sum of weights); the fallbacks after it are drawn
// the same way from the targets left. Weight 0 takes no traffic of its own
// but stays a fallback. With a sticky session key the draws come from the
// key's hash, so a session lands on the same target on every replica.
#include <new>

#include "common/draw.h"
#include "sluice/plugin.h"

namespace sluice::routing {
namespace {

constexpr size_t kMaxTargets = 64;

struct Instance {
  const sluice_host* host;
};

int create(const sluice_host* host, const char*, void** instance, char* err, size_t err_len) {
  auto* inst = new (std::nothrow) Instance{host};
  if (!inst) {
    setError(err, err_len, "out of memory");
    return SLUICE_ERR;
  }
  *instance = inst;
  return SLUICE_OK;
}

void destroy(void* instance) { delete static_cast<Instance*>(instance); }

int order(void* instance, const sluice_target_stats* targets, size_t n, sluice_str sticky_key,
          uint32_t* out) {
  if (n > kMaxTargets) return SLUICE_ERR;
  Draw draw(static_cast<Instance*>(instance)->host, sticky_key);
  uint64_t weight[kMaxTargets];
  bool placed[kMaxTargets] = {};
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    weight[i] = targets[i].healthy && targets[i].weight > 0 ? uint64_t(targets[i].weight) : 0;
    total += weight[i];
  }
  size_t count = 0;
  while (total > 0) {  // weighted draws without replacement
    uint64_t r = draw.below(total);
    size_t pick = 0;
    while (r >= weight[pick]) r -= weight[pick++];
    out[count++] = static_cast<uint32_t>(pick);
    placed[pick] = true;
    total -= weight[pick];
    weight[pick] = 0;
  }
  // Then weight 0, then targets the host will skip anyway, in manifest order.
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < n; i++) {
      if (placed[i] || (pass == 0) != (targets[i].healthy != 0)) continue;
      out[count++] = static_cast<uint32_t>(i);
      placed[i] = true;
    }
  }
  return static_cast<int>(count);
}

const sluice_routing_vtable kVtable = {sizeof(sluice_routing_vtable), create, destroy, order};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_ROUTING,
    "weighted",
    "1.0.0",
    "Splits traffic by each target's integer `weight`; fallbacks are drawn the same way from "
    "the targets left. A sticky session key picks by hash, so a session keeps its target.",
    nullptr,
    &kVtable,
};

}  // namespace
}  // namespace sluice::routing

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::routing::kDescriptor;
}
