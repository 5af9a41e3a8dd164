#include "governance/redis_batch.h"

#include <algorithm>

namespace sluice::governance {

size_t RedisBatch::ShapeHash::operator()(const Shape& s) const {
  uint64_t h = s.key;
  for (uint64_t v : {uint64_t{s.other}, uint64_t{s.ppm}, uint64_t{s.ttl_s},
                     static_cast<uint64_t>(s.limit), uint64_t{s.enforce}}) {
    h = (h ^ v) * 0x100000001b3ull;
  }
  return static_cast<size_t>(h);
}

uint32_t RedisBatch::key(std::string_view name) {
  auto it = key_index_.find(name);
  if (it != key_index_.end()) return it->second;
  auto index = static_cast<uint32_t>(key_index_.size() + 1);
  key_index_.emplace(std::string(name), index);
  keys_.add(name);
  adds_.emplace_back();
  return index;
}

void RedisBatch::settle(const CounterDelta& d) {
  Add& add = adds_[key(d.key) - 1];
  add.delta += d.delta;
  add.ttl_s = std::max(add.ttl_s, d.ttl_s);
  settled_ = true;
}

void RedisBatch::reserve(const std::vector<CounterCheck>& checks, CounterStore::ReserveDone done) {
  reservations_.add(static_cast<int64_t>(checks.size()));
  for (const CounterCheck& c : checks) {
    Shape s;
    s.key = key(c.key);
    if (!c.other_key.empty() && c.other_weight_ppm > 0) {
      s.other = key(c.other_key);
      s.ppm = c.other_weight_ppm;
    }
    s.limit = c.limit;
    s.enforce = c.enforce;
    s.ttl_s = c.ttl_s;
    auto [it, added] = shape_index_.try_emplace(s, static_cast<uint32_t>(shape_index_.size() + 1));
    if (added) {
      shapes_.add(int64_t{s.key}).add(int64_t{s.other}).add(int64_t{s.ppm}).add(s.limit);
      shapes_.add(int64_t{s.enforce ? 1 : 0}).add(int64_t{s.ttl_s});
    }
    reservations_.add(int64_t{it->second}).add(c.amount);
  }
  group_sizes_.push_back(checks.size());
  dones_.push_back(std::move(done));
}

RedisBatch::Run RedisBatch::take() {
  Run run;
  size_t settlements = 0;
  for (const Add& a : adds_) settlements += a.delta != 0;
  run.args.text.reserve(keys_.text.size() + shapes_.text.size() + reservations_.text.size() +
                        settlements * 40 + 48);
  run.args.add(static_cast<int64_t>(key_index_.size())).append(keys_);
  run.args.add(static_cast<int64_t>(settlements));
  for (size_t i = 0; i < adds_.size(); i++) {
    if (adds_[i].delta == 0) continue;
    run.args.add(static_cast<int64_t>(i + 1)).add(adds_[i].delta).add(int64_t{adds_[i].ttl_s});
  }
  run.args.add(static_cast<int64_t>(shape_index_.size())).append(shapes_).append(reservations_);
  run.group_sizes = std::move(group_sizes_);
  run.dones = std::move(dones_);
  keys_.clear();
  key_index_.clear();
  adds_.clear();
  settled_ = false;
  shape_index_.clear();
  shapes_.clear();
  reservations_.clear();
  group_sizes_.clear();
  dones_.clear();
  return run;
}

}  // namespace sluice::governance
