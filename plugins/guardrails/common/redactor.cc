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

// A tail the host held back after a check: as returned (with placeholders) and as it was.
struct HeldTail {
  sluice_hook hook;
  std::string output;
  std::string original;
  std::vector<std::string> tentative;  // keys first numbered inside it
  std::vector<uint32_t> counts;        // per type: spans inside it
};

// Tails kept at once: a stream of several choices holds one per choice.
constexpr size_t kMaxHeldTails = 8;

struct RequestMemory {
  // Type byte + canonical value -> placeholder number.
  std::unordered_map<std::string, uint32_t> numbers;
  std::vector<uint32_t> last_number;  // per type
  std::vector<HeldTail> held;         // oldest first
  // The last result's memory.
  std::string input;
  std::string output;
  std::string spare;  // the output before last: the host may still be reading it
  std::string reason;
  std::vector<uint32_t> counts;
  std::vector<sluice_finding> findings;

  explicit RequestMemory(size_t types) : last_number(types, 0), counts(types, 0) {}

  // A held tail came back: numbers first handed out inside it were never seen by the client.
  // Only the latest number of a type can be taken back; an earlier one stays (a gap).
  void undoTentative(const HeldTail& tail) {
    for (auto it = tail.tentative.rbegin(); it != tail.tentative.rend(); ++it) {
      auto found = numbers.find(*it);
      uint8_t type = static_cast<uint8_t>((*it)[0]);
      if (found == numbers.end() || found->second != last_number[type]) continue;
      last_number[type]--;
      numbers.erase(found);
    }
  }

  // The held tail of this hook that `content` carries (the host may have held more before
  // it), or -1.
  int heldIn(sluice_hook hook, std::string_view content, size_t* at) const {
    for (int i = static_cast<int>(held.size()) - 1; i >= 0; i--) {
      if (held[i].hook != hook) continue;
      size_t pos = content.find(held[i].output);
      if (pos != std::string_view::npos) {
        *at = pos;
        return i;
      }
    }
    return -1;
  }

  uint32_t number(const Scanner& scanner, const Match& m, std::string_view text,
                  std::vector<std::string>* tentative) {
    std::string key(1, static_cast<char>(m.type));
    scanner.appendCanonical(m.type, text.substr(m.begin, m.end - m.begin), &key);
    auto [it, inserted] = numbers.try_emplace(std::move(key), 0);
    if (inserted) {
      it->second = ++last_number[m.type];
      if (tentative) tentative->push_back(it->first);
    }
    return it->second;
  }
};

// A scan's spans, kept per thread so that their buffers are reused.
struct ScanLists {
  std::vector<Match> matches;
  std::vector<Span> units;
};

// Each use of a plugin's thread_local is a call into the dynamic linker: one per check.
[[gnu::noinline]] ScanLists& scanLists() {
  thread_local ScanLists lists;
  return lists;
}

// Where the held tail starts when `pending` may still grow: at the whitespace before the word
// holding it, and before any unit the scan read across whitespace (a phone number with
// spaces, a key block), so the next window reads that word in the same context as the whole
// text. Never more than kMaxContext bytes further back, never inside a UTF-8 character.
// A text ending in whitespace keeps that one byte: the next window then knows whether its
// first word starts a line (a line of an encoded block) or follows a space.
size_t holdStart(std::string_view text, size_t pending, const std::vector<Span>& units,
                 const std::vector<Match>& matches) {
  constexpr size_t kMaxContext = 256;
  if (pending >= text.size()) {
    return !text.empty() && isSpace(text.back()) ? text.size() - 1 : text.size();
  }
  size_t at = pending;
  for (bool moved = true; moved;) {
    while (at > 0 && pending - at < kMaxContext && !isSpace(text[at - 1])) at--;
    moved = false;
    if (at == 0 || pending - at >= kMaxContext) break;
    size_t space = at - 1;
    for (const Span& u : units) {
      if (u.begin <= space && space < u.end && u.begin < at) {
        at = u.begin;
        moved = true;
      }
    }
    for (const Match& m : matches) {
      if (m.begin <= space && space < m.end && m.begin < at) {
        at = m.begin;
        moved = true;
      }
    }
  }
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
  size_t at_held = 0;
  int h = mem ? mem->heldIn(in->hook, content, &at_held) : -1;
  if (h >= 0) {
    HeldTail tail = std::move(mem->held[h]);
    mem->held.erase(mem->held.begin() + h);
    std::string whole(content.substr(0, at_held));
    whole.append(tail.original);
    whole.append(content.substr(at_held + tail.output.size()));
    mem->input.swap(whole);
    text = mem->input;
    restored = true;
    mem->undoTentative(tail);
    recounted = std::move(tail.counts);
  }

  ScanLists& lists = scanLists();
  std::vector<Match>& matches = lists.matches;
  std::vector<Span>& units = lists.units;
  matches.clear();
  units.clear();
  size_t pending = std::min(scanner.scan(text, &matches, &units), text.size());
  // Text that ends mid-word keeps its last word back even when nothing in it may grow: the
  // next window must see what the first character after the cut is glued to.
  if (pending == text.size() && pending > 0 && !isSpace(text[pending - 1])) pending--;
  resolveOverlaps(&matches);
  if (matches.empty() && !restored) {
    setHoldBytes(result, text.size() - holdStart(text, pending, units, matches));
    return SLUICE_OK;
  }

  if (mem == nullptr) {
    mem = new RequestMemory(scanner.typeCount());
    *slot = mem;
  }
  // The held tail starts at `boundary`, never inside a span.
  size_t boundary = holdStart(text, pending, units, matches);
  for (const Match& m : matches) {
    if (m.begin < boundary && boundary < m.end) boundary = m.begin;
  }
  HeldTail tail{in->hook, {}, {}, {}, std::vector<uint32_t>(scanner.typeCount(), 0)};
  std::fill(mem->counts.begin(), mem->counts.end(), 0);
  for (const Match& m : matches) {
    mem->counts[m.type]++;
    if (m.begin >= boundary) tail.counts[m.type]++;
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
    std::vector<std::string>* tentative = m.begin >= boundary ? &tail.tentative : nullptr;
    appendPlaceholder(&out, scanner.typeName(m.type), mem->number(scanner, m, text, tentative));
    at = m.end;
  }
  if (out_boundary == std::string::npos) out_boundary = out.size() + (boundary - at);
  out.append(text.substr(at));
  mem->output.swap(out);  // `spare` keeps the previous output alive for one more call

  std::string_view held_out = std::string_view(mem->output).substr(out_boundary);
  std::string_view held_in = text.substr(boundary);
  if (held_out != held_in) {  // the tail holds a placeholder: remember what it stands for
    tail.output.assign(held_out);
    tail.original.assign(held_in);
    if (mem->held.size() == kMaxHeldTails) mem->held.erase(mem->held.begin());
    mem->held.push_back(std::move(tail));
  }
  setHoldBytes(result, held_out.size());
  if (mem->output != content) {
    result->verdict = SLUICE_VERDICT_MUTATE;
    result->content = str(mem->output);
  }
  fillFindings(scanner, mem, kRedact, result);
  return SLUICE_OK;
}

void releaseRequestState(void* request_state) { delete static_cast<RequestMemory*>(request_state); }

int scannerGuardCheck(void* instance, const sluice_guard_input* in, sluice_guard_result* result) {
  const auto* guard = static_cast<const ScannerGuard*>(instance);
  return checkWithScanner(*guard->scanner, guard->action, in, result);
}

void scannerGuardDestroy(void* instance) { delete static_cast<ScannerGuard*>(instance); }

void scannerGuardRequestEnd(void*, void* request_state) { releaseRequestState(request_state); }

bool readScannerConfig(const char* config_json, const char* types_key, const char* const* names,
                       size_t count, Action fallback, JsonConfig* cfg, std::vector<bool>* enabled,
                       Action* action, std::string* err) {
  if (!cfg->parse(config_json, err) || !cfg->selectNames(types_key, names, count, enabled, err)) {
    return false;
  }
  std::string a = cfg->string("action", fallback == Action::kBlock ? "block" : "redact");
  *action = a == "block" ? Action::kBlock : Action::kRedact;
  return true;
}

}  // namespace sluice::guardrails
