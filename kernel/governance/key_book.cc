#include "governance/key_book.h"

namespace sluice::governance {

void KeyBook::note(const std::string& rule_id, const std::string& dims) {
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
