// Corpus files for the redacting guardrails' tests: one sample per line, the
// values a guardrail must find marked ⟦…⟧ (blank lines and '#' lines skipped,
// a backslash-n stands for a line break).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "support/guard_harness.h"

namespace sluice::testing {

struct MarkedSample {
  std::string line;                 // as written, for messages
  std::string text;                 // without the marks
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
    for (size_t nl = line.find("\\n"); nl != std::string::npos; nl = line.find("\\n", nl + 1)) {
      line.replace(nl, 2, "\n");  // "\n" in a sample stands for a line break
    }
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
inline std::string expectedRedaction(
    const MarkedSample& sample, const std::string& type,
    const std::function<std::string(const std::string&)>& canonical, uint32_t* distinct = nullptr) {
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

using Canonical = std::function<std::string(const std::string&)>;

// For each type, <dir>/<type>.positive.txt: with `config`, each sample comes back with exactly
// its marked values replaced by numbered placeholders and one finding per value; every
// two-piece and byte-by-byte stream of it releases the same text and no byte out of turn.
inline void expectPositiveCorpus(const std::string& dir, const std::vector<std::string>& types,
                                 const std::string& config,
                                 const std::function<Canonical(const std::string&)>& canonical) {
  for (const std::string& type : types) {
    auto samples = readMarkedCorpus(dir + "/" + type + ".positive.txt");
    EXPECT_GE(samples.size(), 2u) << type;
    for (const MarkedSample& s : samples) {
      SCOPED_TRACE(type + ": " + s.line);
      ASSERT_FALSE(s.values.empty()) << "a positive sample without a marked value";
      GuardHarness guard(config);
      std::string expected = expectedRedaction(s, type, canonical(type));
      GuardAnswer a = guard.check(s.text);
      EXPECT_EQ(a.verdict, SLUICE_VERDICT_MUTATE);
      EXPECT_EQ(a.content, expected);
      EXPECT_EQ(a.findings, (std::map<std::string, uint32_t>{{type, s.values.size()}}));
      EXPECT_EQ(a.actions, std::vector<std::string>{"redact"});
      for (const std::string& v : s.values) {
        EXPECT_EQ(a.content.find(v), std::string::npos) << "value left in the output: " << v;
      }
      expectStreamsRelease(guard, s.text, expected);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

// For each type, <dir>/<type>.negative.txt: with `config`, nothing is found, whole or streamed.
inline void expectNegativeCorpus(const std::string& dir, const std::vector<std::string>& types,
                                 const std::string& config) {
  for (const std::string& type : types) {
    auto samples = readMarkedCorpus(dir + "/" + type + ".negative.txt");
    EXPECT_GE(samples.size(), 2u) << type;
    for (const MarkedSample& s : samples) {
      SCOPED_TRACE(type + ": " + s.text);
      GuardHarness guard(config);
      GuardAnswer a = guard.check(s.text);
      EXPECT_EQ(a.verdict, SLUICE_VERDICT_PASS) << a.content;
      EXPECT_TRUE(a.findings.empty());
      expectStreamsRelease(guard, s.text, s.text);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

}  // namespace sluice::testing
