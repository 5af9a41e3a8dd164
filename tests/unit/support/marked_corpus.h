// Corpus files for the redacting guardrails' tests: one sample per line, the
// values a guardrail must find marked ⟦…⟧ (blank lines and '#' lines skipped).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace sluice::testing {

struct MarkedSample {
  std::string line;                // as written, for messages
  std::string text;                // without the marks
  std::vector<std::string> values;  // the marked values, in order
};

inline std::vector<MarkedSample> readMarkedCorpus(const std::string& path) {
  static const std::string kOpen = "⟦", kClose = "⟧";
  std::vector<MarkedSample> samples;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    MarkedSample s{line, "", {}};
    size_t at = 0;
    while (true) {
      size_t open = line.find(kOpen, at);
      if (open == std::string::npos) break;
      size_t close = line.find(kClose, open);
      EXPECT_NE(close, std::string::npos) << "unclosed mark in " << path << ": " << line;
      if (close == std::string::npos) break;
      s.text += line.substr(at, open - at);
      s.values.push_back(line.substr(open + kOpen.size(), close - open - kOpen.size()));
      s.text += s.values.back();
      at = close + kClose.size();
    }
    s.text += line.substr(at);
    samples.push_back(std::move(s));
  }
  return samples;
}

// `sample` with each marked value replaced by "[<type>_n]", n numbering distinct values (as
// `canonical` sees them) in order of appearance.
inline std::string expectedRedaction(const MarkedSample& sample, const std::string& type,
                                     const std::function<std::string(const std::string&)>& canonical,
                                     uint32_t* distinct = nullptr) {
  static const std::string kOpen = "⟦", kClose = "⟧";
  std::map<std::string, int> numbers;
  std::string out;
  size_t at = 0;
  const std::string& line = sample.line;
  for (const std::string& value : sample.values) {
    size_t open = line.find(kOpen, at);
    out += line.substr(at, open - at);
    auto it = numbers.emplace(canonical(value), static_cast<int>(numbers.size()) + 1).first;
    out += "[" + type + "_" + std::to_string(it->second) + "]";
    at = line.find(kClose, open) + kClose.size();
  }
  out += line.substr(at);
  if (distinct) *distinct = static_cast<uint32_t>(numbers.size());
  return out;
}

}  // namespace sluice::testing
