// The secrets guardrail's scanner: provider keys and tokens by their published
// formats, private-key blocks, JWTs, passwords in URLs, and long random-looking
// strings, in one pass over the text.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "scanner.h"

namespace sluice::secrets {

enum Type : uint8_t {
  kAwsAccessKey,
  kAwsSecretKey,
  kGithubToken,
  kGitlabToken,
  kSlackToken,
  kSlackWebhook,
  kStripeKey,
  kOpenaiKey,
  kAnthropicKey,
  kGoogleApiKey,
  kPrivateKey,
  kJwt,
  kUrlCredentials,
  kHighEntropy,  // last: a specific type wins a tie on the same span
  kTypeCount
};

// Finding types, placeholder stems and `types` names, indexed by Type.
extern const char* const kTypeNames[kTypeCount];

struct EntropyRule {
  double threshold = 4.0;  // Shannon entropy, bits per character
  size_t min_length = 32;
};

class SecretsScanner : public guardrails::Scanner {
 public:
  // `enabled[t]` selects type t; every type when empty.
  explicit SecretsScanner(const std::vector<bool>& enabled = {}, EntropyRule entropy = {});

  size_t scan(std::string_view text, std::vector<guardrails::Match>* out,
              std::vector<guardrails::Span>* units) const override;
  size_t typeCount() const override { return kTypeCount; }
  const char* typeName(uint8_t type) const override { return kTypeNames[type]; }

 private:
  bool on(Type t) const { return (enabled_ >> t) & 1u; }
  // A word whose key checks all fail at a glance: short, and no prefix or keyword.
  bool plainWord(std::string_view text, size_t at, size_t word_end) const;
  size_t scanWord(std::string_view text, size_t at, size_t word_end,
                  std::vector<guardrails::Match>* out, size_t* pending) const;
  size_t scanPem(std::string_view text, size_t at, std::vector<guardrails::Match>* out,
                 size_t* pending) const;
  void scanUrlCredentials(std::string_view text, size_t colon,
                          std::vector<guardrails::Match>* out) const;
  size_t awsSecretAfter(std::string_view text, size_t at, std::vector<guardrails::Match>* out,
                        size_t* pending, size_t hold_from) const;

  uint32_t enabled_;
  EntropyRule entropy_;
};

// Shannon entropy of `s` in bits per byte.
double shannonEntropy(std::string_view s);

}  // namespace sluice::secrets
