#include "governance/stores.h"

#include "governance/memory_store.h"
#include "governance/redis_store.h"

namespace sluice::governance {

CounterStoreFactory counterStoreFactory(const manifest::StateConfig& state) {
  if (state.backend == manifest::StateConfig::Backend::Redis) {
    RedisOptions options;
    options.url = state.redis_url;
    options.timeout_ms = state.redis_timeout_ms;
    return redisStoreFactory(options);
  }
  return memoryStoreFactory(std::make_shared<MemoryCounters>());
}

StateStatus stateStatus(const manifest::StateConfig& state, const CounterStore* store) {
  StateStatus s;
  bool redis = state.backend == manifest::StateConfig::Backend::Redis;
  s.backend = redis ? "redis" : "memory";
  s.on_unavailable =
      state.on_unavailable == manifest::StateConfig::OnUnavailable::FailClosed ? "fail_closed"
                                                                                : "fail_open";
  s.connected = !redis || ((!store || store->connected()) && allRedisStoresConnected());
  s.unavailable_total = stateUnavailableTotal();
  return s;
}

}  // namespace sluice::governance
