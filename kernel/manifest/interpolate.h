// Expansion of ${env:NAME} and ${file:PATH} references inside manifest
// scalars. "$${" stands for a literal "${". Errors name the variable or the
// file, never a value.
#pragma once

#include <map>
#include <string>

namespace sluice::manifest {

class Interpolator {
 public:
  // Relative ${file:...} paths resolve against `base_dir`.
  explicit Interpolator(std::string base_dir) : base_dir_(std::move(base_dir)) {}

  // Expands every reference in `raw` into *out. *had_refs tells whether any
  // reference was expanded (the value may then hold a secret). On failure
  // returns false and sets *why.
  bool expand(const std::string& raw, std::string* out, bool* had_refs, std::string* why);

 private:
  bool readFile(const std::string& path, std::string* out, std::string* why);

  std::string base_dir_;
  std::map<std::string, std::string> file_cache_;  // each file is read once per load
};

// YAML ends a plain scalar at '{' or '}' inside a flow collection, so the
// documented form `auth: {bearer: ${env:KEY}}` would not parse. Before
// parsing, the braces of each ${...} (closed on the same line) become two
// control characters that YAML text never holds otherwise; they have the
// same width, so marks stay right. restoreReferences() swaps them back.
constexpr char kRefOpen = '\x01';
constexpr char kRefClose = '\x02';
std::string protectReferences(const std::string& yaml);
std::string restoreReferences(std::string text);

// `path` made absolute against `base_dir` (unchanged when already absolute).
std::string resolveAgainst(const std::string& base_dir, const std::string& path);

}  // namespace sluice::manifest
