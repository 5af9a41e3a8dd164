// The pii guardrail's scanner: e-mail addresses, phone numbers, credit cards,
// US SSNs, IBANs and IP addresses, found in one pass over the text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "scanner.h"

namespace sluice::pii {

enum Type : uint8_t { kEmail, kPhone, kCreditCard, kUsSsn, kIban, kIpAddress, kTypeCount };

// Finding types, placeholder stems and `entities` names, indexed by Type.
extern const char* const kTypeNames[kTypeCount];

class PiiScanner : public guardrails::Scanner {
 public:
  // `enabled[t]` selects type t; every type when empty.
  explicit PiiScanner(const std::vector<bool>& enabled = {});

  size_t scan(std::string_view text, std::vector<guardrails::Match>* out,
              std::vector<guardrails::Span>* units) const override;
  size_t typeCount() const override { return kTypeCount; }
  const char* typeName(uint8_t type) const override { return kTypeNames[type]; }
  void appendCanonical(uint8_t type, std::string_view value, std::string* key) const override;

 private:
  bool on(Type t) const { return (enabled_ >> t) & 1u; }
  void scanEmail(std::string_view text, size_t at, std::vector<guardrails::Match>* out,
                 size_t* pending) const;
  size_t scanIban(std::string_view text, size_t at, std::vector<guardrails::Match>* out,
                  size_t* pending) const;
  size_t scanIpv6(std::string_view text, size_t at, std::vector<guardrails::Match>* out,
                  size_t* pending) const;

  uint32_t enabled_;
};

// Checksums, exposed for tests.
bool luhnValid(std::string_view digits);
bool ibanChecksumValid(std::string_view iban);  // uppercase letters and digits, no spaces
// The IBAN length of a country code, 0 when the country has no IBAN.
int ibanLength(char a, char b);

}  // namespace sluice::pii
