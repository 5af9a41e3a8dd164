// Guardrail `secrets`: finds credentials (provider keys and tokens, private-key
// blocks, JWTs, passwords in URLs, long random-looking strings) and blocks, or
// redacts them with typed placeholders ("[AWS_ACCESS_KEY_1]").
#include <memory>
#include <string>
#include <vector>

#include "plugin_util.h"
#include "redactor.h"
#include "secrets_scanner.h"
#include "sluice/plugin.h"

namespace sluice::secrets {
namespace {

constexpr const char* kName = "secrets";

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  guardrails::JsonConfig cfg;
  std::vector<bool> enabled;
  guardrails::Action action;
  std::string why;
  if (!guardrails::readScannerConfig(config_json, "types", kTypeNames, kTypeCount,
                                     guardrails::Action::kBlock, &cfg, &enabled, &action, &why)) {
    guardrails::copyError(why, err, err_len);
    return SLUICE_ERR_CONFIG;
  }
  EntropyRule entropy;
  entropy.threshold = cfg.number("entropy_threshold", entropy.threshold);
  entropy.min_length = static_cast<size_t>(cfg.number("entropy_min_length", 32));
  *instance =
      new guardrails::ScannerGuard{std::make_unique<SecretsScanner>(enabled, entropy), action};
  return SLUICE_OK;
}

const char* const kActions[] = {"block", "redact", nullptr};

const sluice_config_key kConfig[] = {
    {"action", SLUICE_CFG_STRING, 0, "\"block\"", 0, 0, kActions, nullptr,
     "block: refuse text that holds a secret; redact: replace each with a typed placeholder "
     "such as [GITHUB_TOKEN_1] (use with operation: mutate)"},
    {"types", SLUICE_CFG_STRING_LIST, 0, nullptr, 0, 0, nullptr, nullptr,
     "types to look for, default all: AWS_ACCESS_KEY, AWS_SECRET_KEY, GITHUB_TOKEN, "
     "GITLAB_TOKEN, SLACK_TOKEN, SLACK_WEBHOOK, STRIPE_KEY, OPENAI_API_KEY, ANTHROPIC_API_KEY, "
     "GOOGLE_API_KEY, PRIVATE_KEY, JWT, URL_CREDENTIALS, HIGH_ENTROPY_STRING"},
    {"entropy_threshold", SLUICE_CFG_NUMBER, 0, "4.0", 1, 8, nullptr, nullptr,
     "HIGH_ENTROPY_STRING: Shannon entropy in bits per character a token must reach (hex "
     "digests stay below 4.0)"},
    {"entropy_min_length", SLUICE_CFG_INT, 0, "32", 8, 256, nullptr, nullptr,
     "HIGH_ENTROPY_STRING: shortest token considered"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr},
};

constexpr sluice_guardrail_vtable kVtable = guardrails::scannerGuardVtable(create);

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_GUARDRAIL,
    kName,
    "1.0.0",
    "Credentials: AWS, GitHub, GitLab, Slack, Stripe, OpenAI, Anthropic and Google keys, "
    "private-key blocks, JWTs, passwords in URLs and long random-looking tokens. Blocks or "
    "redacts with typed placeholders; findings name types and counts, never values.",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::secrets

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::secrets::kDescriptor;
}
