#include "governance/plan_cache.h"

#include "governance/key_book.h"

namespace sluice::governance {

Plan PlanCache::plan(const Policy& policy, const RequestFacts& facts, const Waived& waived) {
  if (policy.id() != policy_id_) {  // a reload: the old snapshot's shapes are gone
    shapes_.clear();
    policy_id_ = policy.id();
  }
  signature_.clear();
  policy.signature(facts, waived, &signature_);
  auto it = shapes_.find(std::string_view(signature_));
  if (it != shapes_.end() && facts.now_ms < it->second->valid_until_ms) {
    return planFor(it->second, facts);
  }
  builds_++;
  std::shared_ptr<const PlanShape> shape = policy.shape(facts, waived);
  // A new shape means counter keys this worker has not used yet: the admin
  // API learns about them here, once, instead of on every request.
  for (const CheckInfo& info : shape->info) {
    keyBook().note(info.rate ? info.rate->id : info.budget->id, info.dims, info.key);
  }
  if (it != shapes_.end()) {
    it->second = shape;
  } else {
    if (shapes_.size() >= kMaxShapes) shapes_.clear();
    shapes_.emplace(signature_, shape);
  }
  return planFor(std::move(shape), facts);
}

}  // namespace sluice::governance
