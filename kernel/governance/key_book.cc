#include "governance/key_book.h"

#include <unordered_set>

namespace sluice::governance {

void KeyBook::note(const std::string& rule_id, const std::string& dims,
                   const std::string& counter_key) {
  thread_local std::unordered_set<std::string> noted;
  if (noted.count(counter_key)) return;
  if (noted.size() >= kMaxKeysPerRule) noted.clear();
  noted.insert(counter_key);
  std::lock_guard<std::mutex> lock(mu_);
  auto& set = keys_[rule_id];
  if (set.size() < kMaxKeysPerRule) set.insert(dims);
}

std::vector<std::string> KeyBook::keysOf(const std::string& rule_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(rule_id);
  if (it == keys_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

KeyBook& keyBook() {
  static KeyBook book;
  return book;
}

}  // namespace sluice::governance
