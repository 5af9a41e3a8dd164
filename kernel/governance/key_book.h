// The counter keys each rule has used, so the admin API can show live
// counters on every backend (Redis cannot be listed cheaply). Process-wide;
// bounded per rule.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace sluice::governance {

class KeyBook {
 public:
  static constexpr size_t kMaxKeysPerRule = 10000;

  // Remembers that `rule_id` counted under `dims`. Each thread skips the
  // shared lock for counter keys it has already noted.
  void note(const std::string& rule_id, const std::string& dims, const std::string& counter_key);
  std::vector<std::string> keysOf(const std::string& rule_id) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::set<std::string>, std::less<>> keys_;
};

KeyBook& keyBook();

}  // namespace sluice::governance
