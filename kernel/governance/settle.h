// After the answer: turn a plan's worst-case reservations into what the
// request really used, and send each budget alert threshold the settlement
// crosses — once per threshold per period, across replicas.
#pragma once

#include <memory>

#include "governance/limits.h"
#include "plugins/host.h"

namespace sluice::governance {

// Fire and forget: the store's answer may come after the request is gone.
void settle(sluice_worker* worker, const Plan& plan, const manifest::Pricing* pricing,
            const Usage& usage);
// Undoes a reservation that was never used.
void releasePlan(sluice_worker* worker, const Plan& plan);

// The alert event's JSON body (budget_threshold).
std::string alertJson(const CheckInfo& info, int64_t limit, double threshold_percent,
                      int64_t spent, int64_t now_ms);

}  // namespace sluice::governance
