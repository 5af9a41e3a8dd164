// The counter store a manifest's `state` section asks for.
#pragma once

#include "governance/counter_store.h"
#include "governance/limits_report.h"
#include "manifest/config.h"

namespace sluice::governance {

// memory: one table per process, shared by every loop; redis: one
// connection per loop.
CounterStoreFactory counterStoreFactory(const manifest::StateConfig& state);
StateStatus stateStatus(const manifest::StateConfig& state, const CounterStore* store);

}  // namespace sluice::governance
