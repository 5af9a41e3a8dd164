// What a redacting guardrail (pii, secrets) plugs into the shared engine: a
// scanner that lists the sensitive spans of a text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::guardrails {

// One sensitive span of a text: bytes [begin, end), of the scanner's type `type`.
struct Match {
  size_t begin;
  size_t end;
  uint8_t type;
};

// Bytes [begin, end) that a scan read as one unit: a number written with spaces, a
// private-key block, a secret after its variable name.
struct Span {
  size_t begin;
  size_t end;
};

class Scanner {
 public:
  virtual ~Scanner() = default;

  // Appends every sensitive span of `text` to `out` (any order; overlaps are merged later),
  // and to `units` every stretch holding whitespace that it read as one unit. Returns the
  // offset from which the end of `text` could still begin or extend a span once more text
  // arrives (a stream cut mid-entity), or text.size() when nothing at the end could.
  virtual size_t scan(std::string_view text, std::vector<Match>* out,
                      std::vector<Span>* units) const = 0;

  virtual size_t typeCount() const = 0;
  // The finding type and placeholder stem of `type`, e.g. "EMAIL".
  virtual const char* typeName(uint8_t type) const = 0;

  // Appends to `key` the form under which two spans are the same value (so they get the same
  // placeholder): "Bob@Example.com" and "bob@example.com" are one address.
  virtual void appendCanonical(uint8_t type, std::string_view value, std::string* key) const {
    key->append(value);
  }
};

// Sorts `matches` by position and merges overlapping or empty ones, so every byte belongs to at
// most one span; a merged span takes the type of its longest part.
void resolveOverlaps(std::vector<Match>* matches);

}  // namespace sluice::guardrails
