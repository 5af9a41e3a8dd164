// Guardrail `pii`: finds e-mail addresses, phone numbers, credit-card numbers,
// US social security numbers, IBANs and IP addresses; redacts them with typed
// placeholders ("[EMAIL_1]") or blocks. See pii_scanner.h for what counts.
#include <memory>
#include <string>
#include <vector>

#include "pii_scanner.h"
#include "plugin_util.h"
#include "redactor.h"
#include "sluice/plugin.h"

namespace sluice::pii {
namespace {

constexpr const char* kName = "pii";

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  guardrails::JsonConfig cfg;
  std::vector<bool> enabled;
  guardrails::Action action;
  std::string why;
  if (!guardrails::readScannerConfig(config_json, "entities", kTypeNames, kTypeCount,
                                     guardrails::Action::kRedact, &cfg, &enabled, &action, &why)) {
    guardrails::copyError(why, err, err_len);
    return SLUICE_ERR_CONFIG;
  }
  *instance = new guardrails::ScannerGuard{std::make_unique<PiiScanner>(enabled), action};
  return SLUICE_OK;
}

const char* const kActions[] = {"redact", "block", nullptr};

const sluice_config_key kConfig[] = {
    {"action", SLUICE_CFG_STRING, 0, "\"redact\"", 0, 0, kActions, nullptr,
     "redact: replace each value with a typed placeholder such as [EMAIL_1] (the same value "
     "gets the same placeholder within a request; use with operation: mutate); block: refuse "
     "text that holds any"},
    {"entities", SLUICE_CFG_STRING_LIST, 0, nullptr, 0, 0, nullptr, nullptr,
     "types to look for, default all: EMAIL, PHONE, CREDIT_CARD, US_SSN, IBAN, IP_ADDRESS"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr},
};

constexpr sluice_guardrail_vtable kVtable = guardrails::scannerGuardVtable(create);

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_GUARDRAIL,
    kName,
    "1.0.0",
    "Personal data: e-mail addresses, phone numbers (E.164; US, UK, DE, FR, IN national "
    "formats), Luhn-checked card numbers, US SSNs, checksum-verified IBANs, IPv4 and IPv6 "
    "addresses. Redacts with typed placeholders or blocks; findings name types and counts, "
    "never values.",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::pii

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::pii::kDescriptor;
}
