// Semantic versions and version constraints for plugins. The public entry
// point is versionSatisfies() in plugins/registry.h; these are the pieces the
// loader and the manifest validator share.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::plugins {

struct Version {
  uint32_t major = 0;
  uint32_t minor = 0;
  uint32_t patch = 0;
  auto operator<=>(const Version&) const = default;
  std::string str() const;  // "1.2.3"
};

// Parses "MAJOR.MINOR.PATCH", or "MAJOR.MINOR" meaning patch 0. On failure
// sets *why to "bad version '<text>' (expected MAJOR.MINOR.PATCH)".
bool parseVersion(std::string_view text, Version* out, std::string* why);

// Checks a constraint's syntax without a version to test (manifest
// validation). On failure sets *why to "bad version constraint '<c>': <why>".
bool checkConstraint(std::string_view constraint, std::string* why);

// `text` made safe for a one-line message: control bytes become '?', and
// anything past `max` characters is cut to "...".
std::string printable(std::string_view text, size_t max = 80);

}  // namespace sluice::plugins
