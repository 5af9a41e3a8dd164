// Guardrail `prompt-injection`: a heuristic score in [0, 1] for instruction
// overrides, jailbreak role-play, system-prompt extraction, fake turns and
// chat-template markers, and such instructions hidden in encoded text; blocks
// at or above `threshold`. See scorer.h and rules.cc.
#include <bit>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "plugin_util.h"
#include "scorer.h"
#include "sluice/plugin.h"
#include "text.h"

namespace sluice::injection {
namespace {

constexpr const char* kName = "prompt-injection";
constexpr size_t kHoldWords = 12;  // the longest rule spans fewer words
constexpr size_t kHoldBytes = 160;
constexpr size_t kHoldEncoded = 512;  // an encoded payload still arriving

struct Instance {
  double threshold;
  ScoreOptions options;
};

// A block's reason and findings, kept until the request's next call.
struct Verdict {
  std::string reason;
  std::vector<sluice_finding> findings;
};

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  guardrails::JsonConfig cfg;
  std::string why;
  if (!cfg.parse(config_json, &why)) {
    guardrails::copyError(why, err, err_len);
    return SLUICE_ERR_CONFIG;
  }
  ScoreOptions options;
  options.decode = cfg.boolean("decode", true);
  auto* inst = new (std::nothrow) Instance{cfg.number("threshold", 0.5), options};
  if (inst == nullptr) return SLUICE_ERR;
  *instance = inst;
  return SLUICE_OK;
}

void destroy(void* instance) { delete static_cast<Instance*>(instance); }

// Bit 7 of each of the 8 bytes of `v` (little-endian): the byte is white space (isSpace()).
uint64_t spaceBytes(uint64_t v) {
  using guardrails::kByteOnes;
  const uint64_t low = v & 0x7f * kByteOnes;  // per byte, no carries
  const uint64_t not_blank = low ^ 0x20 * kByteOnes;  // zero where the byte is ' '
  const uint64_t blank = ~((not_blank + 0x7f * kByteOnes) | not_blank);
  const uint64_t control = guardrails::bytesInRange(low, '\t', '\r');
  return (blank | control) & ~v & guardrails::kByteHighs;
}

// How many bytes of `high` (bit 7 of each at most, as spaceBytes() gives) are set: one
// multiply, where std::popcount() is a library call on the baseline x86-64 target.
size_t countHighBits(uint64_t high) {
  return static_cast<size_t>(((high >> 7) * guardrails::kByteOnes) >> 56);
}

// Where, walking back from the end, the hold-back reaches kHoldWords word starts (a space
// before a non-space) or kHoldBytes bytes. Eight bytes per step while neither limit is near:
// this runs on every check.
size_t holdStart(std::string_view text) {
  const size_t n = text.size();
  size_t at = n, words = 0;
  bool next_space = true;  // the byte after `at`: past the end starts no word
  if constexpr (std::endian::native == std::endian::little) {
    while (at >= 8 && n - (at - 7) < kHoldBytes) {
      uint64_t v;
      memcpy(&v, text.data() + at - 8, 8);
      const uint64_t spaces = spaceBytes(v);
      const uint64_t after = spaces >> 8 | static_cast<uint64_t>(next_space) << 63;
      const size_t starts = countHighBits(spaces & ~after);
      if (words + starts >= kHoldWords) break;
      words += starts;
      next_space = spaces & 0x80;
      at -= 8;
    }
  }
  while (at > 0 && n - at < kHoldBytes && words < kHoldWords) {
    at--;
    const bool space = guardrails::isSpace(text[at]);
    words += space && !next_space;
    next_space = space;
  }
  return at;
}

// On a stream, the last words stay back so a phrase cut between chunks is read whole.
size_t holdBytes(std::string_view text) {
  const size_t n = text.size();
  const size_t at = holdStart(text);
  size_t run = n;  // an encoded payload at the end: keep it whole
  while (run > 0 && n - run < kHoldEncoded && !guardrails::isSpace(text[run - 1])) run--;
  return n - guardrails::utf8Start(text, std::min(at, run));
}

int check(void* instance, const sluice_guard_input* in, sluice_guard_result* result) {
  auto* inst = static_cast<Instance*>(instance);
  guardrails::resetResult(result);
  std::string_view text = guardrails::view(in->content);
  Score score = scoreText(text, inst->options);
  if (score.value < inst->threshold) {
    guardrails::setHoldBytes(result, holdBytes(text));
    return SLUICE_OK;
  }
  void** slot = guardrails::requestSlot(in);
  if (slot == nullptr) return guardrails::failWithoutRequestState(result);
  auto* verdict = static_cast<Verdict*>(*slot);
  if (verdict == nullptr) {
    verdict = new Verdict;
    *slot = verdict;
  }
  char head[96];
  snprintf(head, sizeof head, "prompt injection score %.2f (threshold %.2f):", score.value,
           inst->threshold);
  verdict->reason = head;
  verdict->findings.clear();
  const char* sep = " ";
  for (int c = 0; c < kCategoryCount; c++) {
    if (score.hits[c] == 0) continue;
    verdict->reason += sep;
    verdict->reason += kCategoryWords[c];
    sep = ", ";
    verdict->findings.push_back(
        {guardrails::str(kCategoryNames[c]), score.hits[c], guardrails::str("block")});
  }
  result->verdict = SLUICE_VERDICT_BLOCK;
  result->reason = guardrails::str(verdict->reason);
  result->findings = verdict->findings.data();
  result->finding_count = verdict->findings.size();
  return SLUICE_OK;
}

void requestEnd(void*, void* request_state) { delete static_cast<Verdict*>(request_state); }

const sluice_config_key kConfig[] = {
    {"threshold", SLUICE_CFG_NUMBER, 0, "0.5", 0.05, 1, nullptr, nullptr,
     "block when the score (0..1) reaches this; lower catches more and blocks more "
     "legitimate text"},
    {"decode", SLUICE_CFG_BOOL, 0, "true", 0, 0, nullptr, nullptr,
     "also score text hidden in base64, hex, escapes, rot13 or written backwards"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr},
};

const sluice_guardrail_vtable kVtable = {
    sizeof(sluice_guardrail_vtable), create, destroy, check, guardrails::noCancel, requestEnd,
};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_GUARDRAIL,
    kName,
    "1.0.0",
    "Heuristic prompt-injection score: instruction overrides, jailbreak role-play, "
    "system-prompt extraction, fake turns and chat-template markers, and such text hidden in "
    "base64, hex, escapes, rot13 or reversed. Blocks at or above the threshold.",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::injection

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::injection::kDescriptor;
}
