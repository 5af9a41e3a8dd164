#include "secrets_scanner.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>

#include "codec.h"
#include "text.h"

namespace sluice::secrets {

using guardrails::isAlnum;
using guardrails::isAlpha;
using guardrails::isDigit;
using guardrails::isLower;
using guardrails::isSpace;
using guardrails::isUpper;
using guardrails::Match;
using guardrails::startsWith;

const char* const kTypeNames[kTypeCount] = {
    "AWS_ACCESS_KEY",    "AWS_SECRET_KEY",     "GITHUB_TOKEN", "GITLAB_TOKEN",
    "SLACK_TOKEN",       "SLACK_WEBHOOK",      "STRIPE_KEY",   "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY", "GOOGLE_API_KEY",     "PRIVATE_KEY",  "JWT",
    "URL_CREDENTIALS",   "HIGH_ENTROPY_STRING"};

namespace {

constexpr size_t kMaxToken = 256;  // longer base64 runs are data (images, blobs), not keys
constexpr size_t kMaxHeldToken = 512;
constexpr size_t kMinJwtHeader = 10;  // "eyJ" and the rest of a JWT's encoded header
constexpr size_t kMinKeyword = 9;     // "awssecret", the shortest AWS secret-key name
constexpr std::string_view kSlackHook = "hooks.slack.com/services/";

enum class Chars : uint8_t { kUpperDigit, kAlnum, kAlnumUnderscore, kBase64Url, kSlack };

bool inSet(Chars set, unsigned char c) {
  switch (set) {
    case Chars::kUpperDigit:
      return isUpper(c) || isDigit(c);
    case Chars::kAlnum:
      return isAlnum(c);
    case Chars::kAlnumUnderscore:
      return isAlnum(c) || c == '_';
    case Chars::kBase64Url:
      return isAlnum(c) || c == '_' || c == '-';
    case Chars::kSlack:
      return isAlnum(c) || c == '-';
  }
  return false;
}

constexpr bool isWordChar(unsigned char c) { return isAlnum(c) || c == '_' || c == '-'; }
// Whether a key ending before text[at] runs on into more of a word, or into a placeholder a
// redaction left where more of it stood.
bool runsOn(std::string_view text, size_t at, bool (*word)(unsigned char)) {
  return at < text.size() && (word(text[at]) || guardrails::placeholderAt(text, at) > 0);
}
// What follows a placeholder ("[JWT_1]abc") is glued to it, not the start of a word.
constexpr bool continuesWord(unsigned char c) { return isWordChar(c) || c == ']'; }
constexpr bool isTokenChar(unsigned char c) { return isWordChar(c) || c == '+' || c == '/'; }
constexpr guardrails::ByteSet kWordChars = guardrails::byteSet(isWordChar);
constexpr guardrails::ByteSet kTokenChars = guardrails::byteSet(isTokenChar);
// Where scanning may do something: a word, a placeholder, "-----BEGIN", "://".
constexpr guardrails::ByteSet kActiveBytes = guardrails::byteSet(
    [](unsigned char c) { return isAlnum(c) || c == '[' || c == '-' || c == ':'; });
constexpr guardrails::ByteSet kWordGlue = guardrails::byteSet(continuesWord);
constexpr guardrails::ByteSet kAlnumBytes = guardrails::byteSet(isAlnum);
bool isBase64Std(unsigned char c) { return isAlnum(c) || c == '+' || c == '/'; }

// A key format: a fixed prefix and a body of `chars`, min..max long.
struct PrefixRule {
  std::string_view prefix;
  Type type;
  uint16_t min_body;
  uint16_t max_body;
  Chars chars;
  bool mixed;  // the body has digits, upper- and lower-case letters, as random keys do
};

// Published formats (longer prefixes before shorter ones that share a start; rules with the
// same first character together, see kRulesByFirst).
constexpr PrefixRule kRules[] = {
    {"AKIA", kAwsAccessKey, 16, 16, Chars::kUpperDigit, false},
    {"ASIA", kAwsAccessKey, 16, 16, Chars::kUpperDigit, false},
    {"ABIA", kAwsAccessKey, 16, 16, Chars::kUpperDigit, false},
    {"ACCA", kAwsAccessKey, 16, 16, Chars::kUpperDigit, false},
    {"AGPA", kAwsAccessKey, 16, 16, Chars::kUpperDigit, false},
    {"AIDA", kAwsAccessKey, 16, 16, Chars::kUpperDigit, false},
    {"AIPA", kAwsAccessKey, 16, 16, Chars::kUpperDigit, false},
    {"ANPA", kAwsAccessKey, 16, 16, Chars::kUpperDigit, false},
    {"ANVA", kAwsAccessKey, 16, 16, Chars::kUpperDigit, false},
    {"APKA", kAwsAccessKey, 16, 16, Chars::kUpperDigit, false},
    {"AROA", kAwsAccessKey, 16, 16, Chars::kUpperDigit, false},
    {"ASCA", kAwsAccessKey, 16, 16, Chars::kUpperDigit, false},
    {"A3T", kAwsAccessKey, 17, 17, Chars::kUpperDigit, false},
    {"AIza", kGoogleApiKey, 35, 35, Chars::kBase64Url, false},
    {"github_pat_", kGithubToken, 22, 255, Chars::kAlnumUnderscore, false},
    {"ghp_", kGithubToken, 36, 255, Chars::kAlnum, false},
    {"gho_", kGithubToken, 36, 255, Chars::kAlnum, false},
    {"ghu_", kGithubToken, 36, 255, Chars::kAlnum, false},
    {"ghs_", kGithubToken, 36, 255, Chars::kAlnum, false},
    {"ghr_", kGithubToken, 36, 255, Chars::kAlnum, false},
    {"glpat-", kGitlabToken, 20, 255, Chars::kBase64Url, false},
    {"xoxa-", kSlackToken, 10, 255, Chars::kSlack, false},
    {"xoxb-", kSlackToken, 10, 255, Chars::kSlack, false},
    {"xoxp-", kSlackToken, 10, 255, Chars::kSlack, false},
    {"xoxr-", kSlackToken, 10, 255, Chars::kSlack, false},
    {"xoxs-", kSlackToken, 10, 255, Chars::kSlack, false},
    {"xapp-", kSlackToken, 10, 255, Chars::kSlack, false},
    {"sk-ant-", kAnthropicKey, 20, 255, Chars::kBase64Url, true},
    {"sk-", kOpenaiKey, 20, 255, Chars::kBase64Url, true},
    {"sk_live_", kStripeKey, 10, 255, Chars::kAlnum, false},
    {"sk_test_", kStripeKey, 10, 255, Chars::kAlnum, false},
    {"rk_live_", kStripeKey, 10, 255, Chars::kAlnum, false},
    {"rk_test_", kStripeKey, 10, 255, Chars::kAlnum, false},
    {"whsec_", kStripeKey, 24, 255, Chars::kAlnum, false},
};

// The shortest word a key of kRules can be: its prefix and body are word characters.
constexpr size_t kShortestPrefixed = [] {
  size_t shortest = SIZE_MAX;
  for (const PrefixRule& r : kRules) shortest = std::min(shortest, r.prefix.size() + r.min_body);
  return shortest;
}();
// Words shorter than this are no key, JWT or AWS secret-key name (a Slack webhook's "hooks"
// word is short: it goes on past '.').
constexpr size_t kShortestKeyWord = std::min({kShortestPrefixed, kMinJwtHeader, kMinKeyword});

// The rules whose prefix starts with a byte: [begin, end) of kRules.
struct RuleRange {
  uint8_t begin = 0;
  uint8_t end = 0;
};
constexpr std::array<RuleRange, 256> kRulesByFirst = [] {
  std::array<RuleRange, 256> t{};
  for (size_t i = 0; i < std::size(kRules); i++) {
    RuleRange& r = t[static_cast<unsigned char>(kRules[i].prefix[0])];
    if (r.end == 0) r.begin = static_cast<uint8_t>(i);
    r.end = static_cast<uint8_t>(i + 1);
  }
  return t;
}();

bool mixedCase(std::string_view s) {
  bool digit = false, upper = false, lower = false;
  for (unsigned char c : s) {
    digit = digit || isDigit(c);
    upper = upper || isUpper(c);
    lower = lower || isLower(c);
  }
  return digit && upper && lower;
}

// Words and identifiers ("getUserSettings2", "data_pipeline_v2") are runs of three or more
// letters of one case (a capital may lead a lower-case run) with a word's share of vowels;
// random keys have few such runs, or few vowels.
bool madeOfWords(std::string_view s) {
  size_t letters = 0, in_runs = 0, vowels = 0;
  for (unsigned char c : s) {
    if (!isAlpha(c)) continue;
    letters++;
    vowels += std::string_view("aeiouAEIOU").find(c) != std::string_view::npos;
  }
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    if (!isAlpha(s[i])) {
      i++;
      continue;
    }
    size_t j = i;
    if (isUpper(s[i])) {
      while (j < n && isUpper(s[j])) j++;
      if (j < n && isLower(s[j])) {
        j--;  // the last capital leads the lower-case run: "XMLHttp" = "XML" + "Http"
        if (j - i >= 3) in_runs += j - i;
        i = j++;
      }
    }
    while (j < n && (isLower(s[j]) || (j == i && isUpper(s[j])))) j++;
    if (j == i) j = i + 1;
    if (j - i >= 3) in_runs += j - i;
    i = j;
  }
  return in_runs * 10 >= letters * 8 && vowels * 10 >= letters * 3;
}

// Random-looking: letters and digits, not words, not a run like "abcdef…0123".
bool looksRandom(std::string_view s) {
  bool digit = false, alpha = false;
  size_t steps = 0;
  for (size_t i = 0; i < s.size(); i++) {
    digit = digit || isDigit(s[i]);
    alpha = alpha || isAlpha(s[i]);
    if (i > 0 && s[i] == s[i - 1] + 1) steps++;
  }
  return digit && alpha && steps * 2 < s.size() && !madeOfWords(s);
}

// Random but public: subresource-integrity digests ("sha512-…") and Stripe publishable keys.
bool publicToken(std::string_view token) {
  for (std::string_view prefix :
       {"sha1-", "sha256-", "sha384-", "sha512-", "pk_live_", "pk_test_"}) {
    if (startsWith(token, prefix)) return true;
  }
  return false;
}

// "aws_secret_access_key", "AWS_SECRET_KEY", "SecretAccessKey": letters only, any case.
bool awsSecretKeyword(std::string_view word) {
  char letters[32];
  size_t n = 0;
  for (unsigned char c : word) {
    if (isAlpha(c) && n < sizeof letters) letters[n++] = guardrails::toLower(c);
    // Each name starts "aws" or "sec": most words are out after three letters.
    if (n == 3 && memcmp(letters, "aws", 3) != 0 && memcmp(letters, "sec", 3) != 0) return false;
  }
  std::string_view w(letters, n);
  return w == "awssecretaccesskey" || w == "secretaccesskey" || w == "awssecretkey" ||
         w == "awssecret";
}

size_t spanOf(std::string_view text, size_t at, bool (*pred)(unsigned char)) {
  while (at < text.size() && pred(text[at])) at++;
  return at;
}

bool isBase64UrlChar(unsigned char c) { return isWordChar(c); }

enum class PemLine { kNone, kWeak, kStrong };

// A line after a private-key header: base64, an encryption header, a checksum ("=NAhY") are
// the body; a blank or short base64 line counts only when more body follows it.
PemLine pemLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (startsWith(line, "Proc-Type:") || startsWith(line, "DEK-Info:") ||
      startsWith(line, "Comment:")) {
    return PemLine::kStrong;
  }
  bool blank = true;
  for (unsigned char c : line) {
    if (!isBase64Std(c) && c != '=' && !isSpace(c)) return PemLine::kNone;
    blank = blank && isSpace(c);
  }
  if (blank) return PemLine::kWeak;
  bool strong = line.size() >= 40 || line.front() == '=' || line.back() == '=';
  return strong ? PemLine::kStrong : PemLine::kWeak;
}

// The unfinished last line of a text may still become body or an encryption header.
bool pemLineMayContinue(std::string_view line) {
  for (std::string_view header : {"Proc-Type:", "DEK-Info:", "Comment:"}) {
    if (startsWith(header, line)) return true;
  }
  return pemLine(line) != PemLine::kNone;
}

// Where scan() may find something, as a bitmap over the text's bytes: every key, token,
// keyword, JWT and private-key header is a run of at least `run` token characters, so only
// where such a run starts, at '[' (a placeholder), ':' ("://") and a word "hook…" (a Slack
// webhook's short first word), and anywhere in the token run the text ends with (it may
// still grow). Between two of these positions scan() passes over plain words only.
class StopMap {
 public:
  StopMap(std::string_view text, size_t run);
  // The first position from `at` (where a scan step starts) on where one may find something.
  size_t next(size_t at) const {
    if (at >= tail_) return at;
    size_t word = at / 64;
    uint64_t bits = bits_[word] & (~uint64_t{0} << (at % 64));
    while (bits == 0) {
      if (++word == bits_.size()) return tail_;
      bits = bits_[word];
    }
    return std::min(word * 64 + static_cast<size_t>(std::countr_zero(bits)), tail_);
  }

 private:
  std::vector<uint64_t>& bits_;
  size_t tail_;
};

// Of 64 bytes: the token characters, and '[', ':' and "ho" (the start of "hook").
struct BlockMasks {
  uint64_t token = 0;
  uint64_t marks = 0;
};

// Reads 65 bytes from `p`: the byte after the block completes its last "ho".
#if defined(SLUICE_SCAN_SSE2)
[[gnu::always_inline]] inline BlockMasks classifyBlock(const unsigned char* p) {
  const auto eq = [](__m128i v, char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); };
  // lo <= byte <= hi: shifted so that lo is -128, one signed comparison (a byte >= 0x80 lands
  // at or past 0, never in range).
  const auto between = [](__m128i v, char lo, char hi) {
    __m128i shifted = _mm_add_epi8(v, _mm_set1_epi8(static_cast<char>(0x80 - lo)));
    return _mm_cmpgt_epi8(_mm_set1_epi8(static_cast<char>(0x80 - lo + hi + 1)), shifted);
  };
  const auto bits = [](__m128i set, unsigned lane) {
    return static_cast<uint64_t>(static_cast<uint16_t>(_mm_movemask_epi8(set))) << (16 * lane);
  };
  BlockMasks m;
  for (unsigned lane = 0; lane < 4; lane++) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * lane));
    __m128i after = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * lane + 1));
    __m128i letter = between(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z');
    // '+' ',' '-' '.' '/' and the digits are one range; ',' and '.' are no token characters.
    __m128i signs_digits =
        _mm_andnot_si128(_mm_or_si128(eq(v, ','), eq(v, '.')), between(v, '+', '9'));
    __m128i token = _mm_or_si128(_mm_or_si128(letter, signs_digits), eq(v, '_'));
    __m128i ho = _mm_and_si128(eq(v, 'h'), eq(after, 'o'));
    m.token |= bits(token, lane);
    m.marks |= bits(_mm_or_si128(_mm_or_si128(eq(v, '['), eq(v, ':')), ho), lane);
  }
  return m;
}
#else
BlockMasks classifyBlock(const unsigned char* p) {
  BlockMasks m;
  for (unsigned k = 0; k < 64; k++) {
    const uint64_t bit = uint64_t{1} << k;
    if (isTokenChar(p[k])) m.token |= bit;
    if (p[k] == '[' || p[k] == ':' || (p[k] == 'h' && p[k + 1] == 'o')) m.marks |= bit;
  }
  return m;
}
#endif

// Where `run` (at most 64) token characters in a row start, of the block whose token
// characters are `token`, followed by the block `next`.
[[gnu::always_inline]] inline uint64_t runStarts(uint64_t token, uint64_t next, size_t run) {
  if (run <= 1) return run == 1 ? token : ~uint64_t{0};
  unsigned __int128 starts = token | static_cast<unsigned __int128>(next) << 64;
  size_t length = 1;  // `starts` holds where runs of `length` start
  while (2 * length < run) {
    starts &= starts >> length;
    length *= 2;
  }
  starts &= starts >> (run - length);
  return static_cast<uint64_t>(starts);
}

// Keeps of `ho` the "hook"s at the start of a word, the block starting at text[base].
uint64_t hooksAtWordStart(std::string_view text, size_t base, uint64_t ho) {
  uint64_t hooks = 0;
  for (; ho; ho &= ho - 1) {
    size_t at = base + static_cast<size_t>(std::countr_zero(ho));
    if ((at == 0 || !isWordChar(text[at - 1])) && startsWith(text.substr(at), "hook")) {
      hooks |= ho & -ho;
    }
  }
  return hooks;
}

// The bitmap's buffer, kept per thread; one thread_local lookup (a call) per scan.
[[gnu::noinline]] std::vector<uint64_t>& stopBits() {
  thread_local std::vector<uint64_t> bits;
  return bits;
}

StopMap::StopMap(std::string_view text, size_t run) : bits_(stopBits()) {
  std::vector<uint64_t>& bits = bits_;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  const size_t blocks = n / 64 + 1;
  bits.resize(blocks);
  // A block is done once the next one's token characters are known: runs cross blocks.
  const auto classify = [&](size_t b) {
    if (b * 64 + 65 <= n) return classifyBlock(p + b * 64);
    unsigned char padded[80] = {};  // past the end: bytes that start nothing
    if (b * 64 < n) memcpy(padded, p + b * 64, n - b * 64);
    return classifyBlock(padded);
  };
  BlockMasks block = classify(0);
  for (size_t b = 0; b < blocks; b++) {
    BlockMasks next = b + 1 < blocks ? classify(b + 1) : BlockMasks{};
    // The "ho" marks are on 'h', a token character; '[' and ':' are none.
    const uint64_t ho = block.marks & block.token;
    // The usual run length as a constant: its shifts unrolled.
    const uint64_t runs = run == kShortestKeyWord
                              ? runStarts(block.token, next.token, kShortestKeyWord)
                              : runStarts(block.token, next.token, run);
    bits[b] = (block.marks & ~ho) | hooksAtWordStart(text, b * 64, ho) | runs;
    block = next;
  }
  tail_ = n;
  while (tail_ > 0 && isTokenChar(text[tail_ - 1])) tail_--;
}

}  // namespace

double shannonEntropy(std::string_view s) {
  if (s.empty()) return 0;
  uint16_t counts[256] = {};
  for (unsigned char c : s) counts[c]++;
  double bits = 0;
  const double n = static_cast<double>(s.size());
  for (uint16_t c : counts) {
    if (c == 0) continue;
    double p = c / n;
    bits -= p * std::log2(p);
  }
  return bits;
}

SecretsScanner::SecretsScanner(const std::vector<bool>& enabled, EntropyRule entropy)
    : enabled_(0), entropy_(entropy) {
  for (int t = 0; t < kTypeCount; t++) {
    if (enabled.empty() || (static_cast<size_t>(t) < enabled.size() && enabled[t])) {
      enabled_ |= 1u << t;
    }
  }
}

// A 40-character AWS secret access key right after `at` (past quotes, '=' or ':'), as it
// follows its key id or its variable name; `hold_from` is what to hold while it may arrive.
size_t SecretsScanner::awsSecretAfter(std::string_view text, size_t at, std::vector<Match>* out,
                                      size_t* pending, size_t hold_from) const {
  const size_t n = text.size();
  size_t j = at;
  while (j < n && j - at < 8 &&
         std::string_view(" \t\"'`:=,;").find(text[j]) != std::string_view::npos) {
    j++;
  }
  size_t e = j;
  while (e < n && e - j <= 40 && isBase64Std(text[e])) e++;
  if (e == n) *pending = std::min(*pending, hold_from);
  if (e - j != 40 || runsOn(text, e, isTokenChar) || (e < n && text[e] == '=')) return at;
  std::string_view key = text.substr(j, 40);
  if (shannonEntropy(key) < 3.0) return at;  // "xxxxxxxx…" stand-ins
  out->push_back({j, e, kAwsSecretKey});
  return e;
}

size_t SecretsScanner::scanPem(std::string_view text, size_t at, std::vector<Match>* out,
                               size_t* pending) const {
  static constexpr std::string_view kBegin = "-----BEGIN ";
  static constexpr std::string_view kEnd = "-----END ";
  static constexpr std::string_view kDashes = "-----";
  const size_t n = text.size();
  std::string_view rest = text.substr(at);
  if (rest.size() < kBegin.size()) {
    if (startsWith(kBegin, rest)) *pending = std::min(*pending, at);
    return at;
  }
  if (!startsWith(rest, kBegin)) return at;
  size_t label_at = at + kBegin.size();
  size_t k = label_at;
  while (k < n && k - label_at <= 48 && text[k] != '\n' && !startsWith(text.substr(k), kDashes)) {
    k++;
  }
  if (k == n || (k + kDashes.size() > n && startsWith(kDashes, text.substr(k)))) {
    *pending = std::min(*pending, at);  // the header line is still arriving
    return at;
  }
  if (!startsWith(text.substr(k), kDashes)) return at;
  std::string_view label = text.substr(label_at, k - label_at);
  for (unsigned char c : label) {
    if (!isUpper(c) && c != ' ') return at;  // "RSA PRIVATE KEY": capitals and spaces only
  }
  auto endsWith = [](std::string_view s, std::string_view tail) {
    return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
  };
  if (!endsWith(label, "PRIVATE KEY") && !endsWith(label, "PRIVATE KEY BLOCK")) return at;
  size_t body = k + kDashes.size();

  // The body: base64 lines (and encryption headers) up to the END line. A line that is none
  // of these ends the block where it stands, with or without an END further on, so a stream
  // cut anywhere sees the same block as the whole text.
  std::string end_marker = std::string(kEnd) + std::string(label) + std::string(kDashes);
  size_t body_end = body;
  for (size_t pos = body;;) {
    size_t eol = text.find('\n', pos);
    bool last = eol == std::string_view::npos;
    std::string_view line = text.substr(pos, (last ? n : eol) - pos);
    size_t dashes = line.find('-');  // base64 has no '-': the END line starts here
    std::string_view before = line.substr(0, std::min(dashes, line.size()));
    bool body_before = pemLine(before) != PemLine::kNone;
    if (dashes != std::string_view::npos && body_before) {
      std::string_view marker = line.substr(dashes);
      if (startsWith(marker, end_marker)) {
        size_t end = pos + dashes + end_marker.size();
        out->push_back({at, end, kPrivateKey});
        return end;
      }
      if (last && startsWith(end_marker, marker)) {  // the END line is still arriving
        body_end = n;
        *pending = std::min(*pending, at);
        break;
      }
    }
    if (last) {
      if (pemLineMayContinue(line)) {
        body_end = n;
        *pending = std::min(*pending, at);
      }
      break;
    }
    PemLine kind = pemLine(line);
    if (kind == PemLine::kNone) break;
    if (kind == PemLine::kStrong) body_end = eol;
    pos = eol + 1;
  }
  while (body_end > body && isSpace(text[body_end - 1])) body_end--;
  out->push_back({at, body_end, kPrivateKey});
  return body_end;
}

void SecretsScanner::scanUrlCredentials(std::string_view text, size_t colon,
                                        std::vector<Match>* out) const {
  size_t scheme = colon;
  while (scheme > 0 && (isAlnum(text[scheme - 1]) || text[scheme - 1] == '+' ||
                        text[scheme - 1] == '.' || text[scheme - 1] == '-')) {
    scheme--;
  }
  if (scheme == colon || !isAlpha(text[scheme])) return;
  const size_t n = text.size();
  size_t begin = colon + 3;
  size_t last_at = std::string_view::npos;
  for (size_t e = begin; e < n; e++) {
    unsigned char c = text[e];
    if (isSpace(c) || c < 0x20 ||
        std::string_view("/?#\"'<>[]`\\{}|^").find(c) != std::string_view::npos) {
      break;
    }
    if (c == '@') last_at = e;
  }
  if (last_at == std::string_view::npos || last_at + 1 >= n) return;
  if (!isAlnum(text[last_at + 1]) && text[last_at + 1] != '[') return;
  size_t sep = text.find(':', begin);
  if (sep == std::string_view::npos || sep >= last_at || sep + 1 == last_at) return;
  out->push_back({sep + 1, last_at, kUrlCredentials});
}

// Whether `word` may start with one of the prefixes above (their first two characters):
// most words do not, and skip the list.
[[gnu::always_inline]] inline bool maybePrefixed(std::string_view word) {
  if (word.size() < 3) return false;
  char a = word[0], b = word[1];
  switch (a) {
    case 'A':
      return isUpper(b) || b == '3';
    case 'g':
      return b == 'h' || b == 'i' || b == 'l';
    case 'x':
      return b == 'o' || b == 'a';
    case 's':
    case 'r':
      return b == 'k';
    case 'w':
      return b == 'h';
  }
  return false;
}

// Whether `word` starts with one of the prefixes above.
bool hasPrefix(std::string_view word) {
  RuleRange range = kRulesByFirst[static_cast<unsigned char>(word[0])];
  for (size_t i = range.begin; i < range.end; i++) {
    if (startsWith(word, kRules[i].prefix)) return true;
  }
  return false;
}

// First bytes of what a word may be besides a random token: a key prefix, an AWS secret-key
// name, a Slack webhook, a JWT.
constexpr guardrails::ByteSet kKeyFirstBytes = guardrails::byteSet([](unsigned char c) {
  return c == 'A' || c == 'g' || c == 'x' || c == 's' || c == 'r' || c == 'w' || c == 'a' ||
         c == 'S' || c == 'h' || c == 'e';
});

// A word starting like a key, a webhook, a JWT or an AWS secret-key name, whose token is
// shorter than the entropy rule's: whether it ends where the word does, being none of these.
[[gnu::always_inline]] inline bool shortKeyCandidateIsPlain(std::string_view text, size_t at,
                                                            size_t word_end, size_t token) {
  const unsigned char c = text[at];
  std::string_view rest = text.substr(at);
  const bool prefixed = maybePrefixed(rest);
  const bool keyword = ((c | 0x20) == 'a' || (c | 0x20) == 's') && word_end - at >= kMinKeyword;
  if (!prefixed && !keyword && c != 'h' && c != 'e') return true;
  return token + 2 <= kMaxToken && !(prefixed && hasPrefix(rest)) &&
         !startsWith(rest, kSlackHook) && !startsWith(rest, "eyJ") &&
         !(keyword && word_end - at <= 32 && awsSecretKeyword(text.substr(at, word_end - at)));
}

// Inlined with the two above into scan(): they run for most words of a text.
[[gnu::always_inline]] inline bool SecretsScanner::plainWord(std::string_view text, size_t at,
                                                             size_t word_end) const {
  size_t token = guardrails::skipBytes(text, word_end, kTokenChars) - at;
  if (token >= entropy_.min_length) return false;
  const unsigned char c = text[at];
  if (!kKeyFirstBytes[c]) return true;
  // Too short for anything but a webhook; scanWord() would skip it too, being no blob.
  if (word_end - at < kShortestKeyWord && c != 'h' && token + 2 <= kMaxToken) return true;
  return shortKeyCandidateIsPlain(text, at, word_end, token);
}

size_t SecretsScanner::scanWord(std::string_view text, size_t at, size_t word_end,
                                std::vector<Match>* out, size_t* pending) const {
  const size_t n = text.size();
  std::string_view rest = text.substr(at);
  const unsigned char c = text[at];
  size_t token_end = guardrails::skipBytes(text, word_end, kTokenChars);

  const bool prefixed = maybePrefixed(rest);
  const bool keyword = ((c | 0x20) == 'a' || (c | 0x20) == 's') && word_end - at >= kMinKeyword;
  const RuleRange range = prefixed ? kRulesByFirst[c] : RuleRange{};
  for (size_t i = range.begin; i < range.end; i++) {
    const PrefixRule& r = kRules[i];
    if (r.prefix[0] != c || !on(r.type) || !startsWith(rest, r.prefix)) continue;
    size_t body = at + r.prefix.size();
    size_t end = body;
    while (end < n && end - body <= r.max_body && inSet(r.chars, text[end])) end++;
    std::string_view key = text.substr(body, end - body);
    if (key.size() < r.min_body || key.size() > r.max_body) continue;
    if (runsOn(text, end, isWordChar)) continue;
    if (r.type == kOpenaiKey && startsWith(key, "ant-")) continue;
    if (r.mixed && !mixedCase(key)) continue;
    out->push_back({at, end, r.type});
    if (r.type == kAwsAccessKey && on(kAwsSecretKey))
      end = awsSecretAfter(text, end, out, pending, at);
    return end;
  }

  if (c == 'h' && on(kSlackWebhook) && startsWith(rest, kSlackHook)) {
    size_t end = spanOf(text, at + kSlackHook.size(),
                        [](unsigned char x) { return isAlnum(x) || x == '/'; });
    size_t path = at + kSlackHook.size();
    if (end - path >= 20 && text[path] == 'T') {
      size_t begin = at >= 8 && text.substr(at - 8, 8) == "https://" ? at - 8 : at;
      out->push_back({begin, end, kSlackWebhook});
      return end;
    }
  }

  if (c == 'e' && on(kJwt) && startsWith(rest, "eyJ")) {
    size_t e1 = spanOf(text, at, isBase64UrlChar);
    if (e1 - at >= kMinJwtHeader && e1 - at <= 1024 && e1 < n && text[e1] == '.') {
      size_t e2 = spanOf(text, e1 + 1, isBase64UrlChar);
      if (e2 - e1 - 1 >= 2 && e2 < n && text[e2] == '.') {
        size_t e3 = spanOf(text, e2 + 1, isBase64UrlChar);
        bool bounded = !runsOn(text, e3, isBase64UrlChar) &&
                       (e3 == n || text[e3] != '.' || !runsOn(text, e3 + 1, isBase64UrlChar));
        std::string header;
        if (bounded && guardrails::decodeBase64(text.substr(at, e1 - at), &header) &&
            !header.empty() && header[0] == '{' && header.find("\"alg\"") != std::string::npos) {
          out->push_back({at, e3, kJwt});
          return e3;
        }
      }
    }
  }

  if (keyword && on(kAwsSecretKey) && word_end - at <= 32 &&
      awsSecretKeyword(text.substr(at, word_end - at))) {
    size_t end = awsSecretAfter(text, word_end, out, pending, at);
    if (end > word_end) return end;
  }

  // A long random-looking token, with its base64 padding when the token ends there.
  size_t end = token_end;
  size_t padded = end;
  while (padded < n && padded - end < 2 && text[padded] == '=') padded++;
  if (padded < n && isTokenChar(text[padded])) padded = end;  // "KEY=value": not padding
  bool glued = padded == end && runsOn(text, end, isTokenChar);
  std::string_view core = text.substr(at, end - at);
  // Only whole tokens: the rest of "blob/AbC…" is not a token of its own.
  bool whole_token = at == 0 || !isTokenChar(text[at - 1]);
  // A whole line of 64 or 76 base64 characters is a line of an encoded block (a certificate,
  // a public key, a MIME part); private-key blocks are found as such above.
  bool block_line = (padded - at == 64 || padded - at == 76) && (at == 0 || text[at - 1] == '\n') &&
                    (padded == n || text[padded] == '\n' || text[padded] == '\r');
  if (on(kHighEntropy) && whole_token && !glued && core.size() >= entropy_.min_length &&
      padded - at <= kMaxToken && !block_line && !publicToken(core) && looksRandom(core) &&
      shannonEntropy(core) >= entropy_.threshold) {
    out->push_back({at, padded, kHighEntropy});
    return padded;
  }
  if (padded - at > kMaxToken) return padded;                // a blob: skip all of it
  return padded > at ? std::max(word_end, at + 1) : at + 1;  // "user/AKIA…": look past '/'
}

size_t SecretsScanner::scan(std::string_view text, std::vector<Match>* out,
                            std::vector<guardrails::Span>* units) const {
  const size_t n = text.size();
  size_t pending = n;
  const StopMap stops(text, std::min(entropy_.min_length, kShortestKeyWord));
  size_t i = 0;
  while (i < n) {
    i = stops.next(i);  // past plain words
    if (i >= n) break;
    unsigned char c = text[i];
    if (!kActiveBytes[c]) {  // spaces and most punctuation start nothing
      i++;
      continue;
    }
    if (kAlnumBytes[c]) {  // the commonest active byte: a word starts, or goes on
      if (i > 0 && kWordGlue[static_cast<unsigned char>(text[i - 1])]) {
        i++;
        continue;
      }
      size_t word_end = guardrails::skipBytes(text, i + 1, kWordChars);
      // Most words: nothing more to read. The commonest next is one space and the next word,
      // which a space glues to nothing.
      while (plainWord(text, i, word_end)) {
        i = word_end;
        const bool next_word =
            i + 1 < n && text[i] == ' ' && kAlnumBytes[static_cast<unsigned char>(text[i + 1])];
        if (!next_word) break;
        i++;
        word_end = guardrails::skipBytes(text, i + 1, kWordChars);
      }
      if (i == word_end) continue;  // the last word read was plain
      size_t end = scanWord(text, i, word_end, out, &pending);
      if (guardrails::hasSpace(text.substr(i, end - i))) units->push_back({i, end});  // key = secret
      i = end;
      continue;
    }
    if (c == '[') {
      size_t placeholder = guardrails::placeholderAt(text, i);
      i += placeholder ? placeholder : 1;
      continue;
    }
    if (c == '-') {
      size_t end = on(kPrivateKey) && startsWith(text.substr(i), "-----")
                       ? scanPem(text, i, out, &pending)
                       : i;
      if (end > i) units->push_back({i, end});
      i = end > i ? end : i + 1;
      continue;
    }
    if (c == ':' && on(kUrlCredentials) && i + 2 < n && text[i + 1] == '/' &&
        text[i + 2] == '/') {
      scanUrlCredentials(text, i, out);
    }
    i++;
  }
  // A token at the end may still be growing ("sk-ant-api03-…" cut by a stream).
  size_t j = n;
  while (j > 0 && n - j < kMaxHeldToken && !isSpace(text[j - 1])) j--;
  return std::min(pending, j);
}

}  // namespace sluice::secrets
