#include "redactor.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "plugin_util.h"
#include "text.h"

namespace sluice::guardrails {
namespace {

constexpr std::string_view kRedact = "redact";
constexpr std::string_view kBlock = "block";

struct RequestMemory {
  sluice_hook hook{};
  // Type byte + canonical value -> placeholder number.
  std::unordered_map<std::string, uint32_t> numbers;
  std::vector<uint32_t> last_number;  // per type
  // The tail the host holds back after the last check, as returned and as it was; kept only
  // when they differ (it holds a placeholder).
  std::string held_output;
  std::string held_original;
  std::vector<std::string> tentative;  // keys first numbered inside the held tail
  std::vector<uint32_t> held_counts;   // per type: spans inside the held tail
  // The last result's memory.
  std::string input;
  std::string output;
  std::string spare;  // the output before last: the host may still be reading it
  std::string reason;
  std::vector<uint32_t> counts;
  std::vector<sluice_finding> findings;

  explicit RequestMemory(size_t types)
      : last_number(types, 0), held_counts(types, 0), counts(types, 0) {}

  // The held tail came back: numbers handed out inside it were never seen by the client.
  void undoTentative() {
    for (auto it = tentative.rbegin(); it != tentative.rend(); ++it) {
      last_number[static_cast<uint8_t>((*it)[0])]--;
      numbers.erase(*it);
    }
    tentative.clear();
  }

  uint32_t number(const Scanner& scanner, const Match& m, std::string_view text, bool in_held) {
    std::string key(1, static_cast<char>(m.type));
    scanner.appendCanonical(m.type, text.substr(m.begin, m.end - m.begin), &key);
    auto [it, inserted] = numbers.try_emplace(std::move(key), 0);
    if (inserted) {
      it->second = ++last_number[m.type];
      if (in_held) tentative.push_back(it->first);
    }
    return it->second;
  }
};

thread_local std::vector<Match> t_matches;

// Where the held tail starts when `pending` may still grow: at the whitespace before the word
// holding it, so the next window reads that word with the same context as the whole text
// would. Never more than kMaxContext bytes further back, never inside a UTF-8 character.
size_t holdStart(std::string_view text, size_t pending) {
  constexpr size_t kMaxContext = 256;
  if (pending >= text.size()) return text.size();
  size_t at = pending;
  while (at > 0 && pending - at < kMaxContext && !isSpace(text[at - 1])) at--;
  if (at > 0) at--;
  return utf8Start(text, at);
}

void appendPlaceholder(std::string* out, const char* type, uint32_t n) {
  char digits[12];
  size_t len = 0;
  do {
    digits[len++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n);
  out->push_back('[');
  out->append(type);
  out->push_back('_');
  while (len) out->push_back(digits[--len]);
  out->push_back(']');
}

void fillFindings(const Scanner& scanner, RequestMemory* mem, std::string_view action,
                  sluice_guard_result* result) {
  mem->findings.clear();
  for (size_t t = 0; t < mem->counts.size(); t++) {
    if (mem->counts[t] == 0) continue;
    const char* name = scanner.typeName(static_cast<uint8_t>(t));
    mem->findings.push_back({{name, strlen(name)}, mem->counts[t], str(action)});
  }
  result->findings = mem->findings.data();
  result->finding_count = mem->findings.size();
}

void block(const Scanner& scanner, RequestMemory* mem, sluice_guard_result* result) {
  mem->reason = "found";
  for (size_t t = 0; t < mem->counts.size(); t++) {
    if (mem->counts[t] == 0) continue;
    mem->reason += mem->reason.size() > 5 ? ", " : " ";
    mem->reason += std::to_string(mem->counts[t]);
    mem->reason += ' ';
    mem->reason += scanner.typeName(static_cast<uint8_t>(t));
  }
  result->verdict = SLUICE_VERDICT_BLOCK;
  result->reason = str(mem->reason);
  fillFindings(scanner, mem, kBlock, result);
}

}  // namespace

void resolveOverlaps(std::vector<Match>* matches) {
  std::vector<Match>& m = *matches;
  std::sort(m.begin(), m.end(), [](const Match& a, const Match& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    return a.end != b.end ? a.end > b.end : a.type < b.type;  // a tie goes to the lower type
  });
  size_t kept = 0;
  size_t longest = 0;  // length of the longest part merged into m[kept - 1]
  for (const Match& x : m) {
    if (x.end <= x.begin) continue;
    if (kept > 0 && x.begin < m[kept - 1].end) {
      Match& last = m[kept - 1];
      if (x.end - x.begin > longest) {
        longest = x.end - x.begin;
        last.type = x.type;
      }
      last.end = std::max(last.end, x.end);
      continue;
    }
    m[kept++] = x;
    longest = x.end - x.begin;
  }
  m.resize(kept);
}

int checkWithScanner(const Scanner& scanner, Action action, const sluice_guard_input* in,
                     sluice_guard_result* result) {
  resetResult(result);
  void** slot = requestSlot(in);
  if (slot == nullptr) return failWithoutRequestState(result);
  auto* mem = static_cast<RequestMemory*>(*slot);
  std::string_view content = view(in->content);
  std::string_view text = content;

  bool restored = false;
  std::vector<uint32_t> recounted;  // spans the client was already told about
  if (mem != nullptr && !mem->held_output.empty()) {
    if (mem->hook == in->hook && startsWith(content, mem->held_output)) {
      std::string whole = mem->held_original;
      whole.append(content.substr(mem->held_output.size()));
      mem->input.swap(whole);
      text = mem->input;
      restored = true;
      mem->undoTentative();
      recounted.swap(mem->held_counts);
      mem->held_counts.assign(scanner.typeCount(), 0);
    } else {
      mem->tentative.clear();  // the client has it: the numbers stand
    }
    mem->held_output.clear();
    mem->held_original.clear();
  }

  std::vector<Match>& matches = t_matches;
  matches.clear();
  size_t pending = std::min(scanner.scan(text, &matches), text.size());
  resolveOverlaps(&matches);
  if (matches.empty() && !restored) {
    setHoldBytes(result, text.size() - holdStart(text, pending));
    return SLUICE_OK;
  }

  if (mem == nullptr) {
    mem = new RequestMemory(scanner.typeCount());
    *slot = mem;
  }
  mem->hook = in->hook;
  // The held tail starts at `boundary`, never inside a span.
  size_t boundary = holdStart(text, pending);
  for (const Match& m : matches) {
    if (m.begin < boundary && boundary < m.end) boundary = m.begin;
  }
  std::fill(mem->counts.begin(), mem->counts.end(), 0);
  std::fill(mem->held_counts.begin(), mem->held_counts.end(), 0);
  for (const Match& m : matches) {
    mem->counts[m.type]++;
    if (m.begin >= boundary) mem->held_counts[m.type]++;
  }
  for (size_t t = 0; t < recounted.size(); t++) {
    mem->counts[t] -= std::min(mem->counts[t], recounted[t]);
  }

  // Block as soon as a whole entity is visible, even at the end of a stream window: the host
  // may release the held tail without asking again.
  if (action == Action::kBlock && !matches.empty()) {
    block(scanner, mem, result);
    return SLUICE_OK;
  }

  std::string& out = mem->spare;
  out.clear();
  out.reserve(text.size() + 16 * matches.size());
  size_t at = 0;
  size_t out_boundary = std::string::npos;
  for (const Match& m : matches) {
    if (out_boundary == std::string::npos && boundary <= m.begin) {
      out_boundary = out.size() + (boundary - at);
    }
    out.append(text.substr(at, m.begin - at));
    bool in_held = m.begin >= boundary;
    appendPlaceholder(&out, scanner.typeName(m.type), mem->number(scanner, m, text, in_held));
    at = m.end;
  }
  if (out_boundary == std::string::npos) out_boundary = out.size() + (boundary - at);
  out.append(text.substr(at));
  mem->output.swap(out);  // `spare` keeps the previous output alive for one more call

  std::string_view held_out = std::string_view(mem->output).substr(out_boundary);
  std::string_view held_in = text.substr(boundary);
  if (held_out != held_in) {
    mem->held_output.assign(held_out);
    mem->held_original.assign(held_in);
  } else {
    mem->tentative.clear();
  }
  setHoldBytes(result, held_out.size());
  if (mem->output != content) {
    result->verdict = SLUICE_VERDICT_MUTATE;
    result->content = str(mem->output);
  }
  fillFindings(scanner, mem, kRedact, result);
  return SLUICE_OK;
}

void releaseRequestState(void* request_state) {
  delete static_cast<RequestMemory*>(request_state);
}

int scannerGuardCheck(void* instance, const sluice_guard_input* in, sluice_guard_result* result) {
  const auto* guard = static_cast<const ScannerGuard*>(instance);
  return checkWithScanner(*guard->scanner, guard->action, in, result);
}

void scannerGuardDestroy(void* instance) { delete static_cast<ScannerGuard*>(instance); }

void scannerGuardRequestEnd(void*, void* request_state) { releaseRequestState(request_state); }

}  // namespace sluice::guardrails
