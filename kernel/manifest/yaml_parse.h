// Parses the manifest's single YAML document with yaml-cpp, guarding
// against yaml-cpp 0.7's LoadAll() looping forever on a stray flow token
// (",": jbeder/yaml-cpp#1040, fixed upstream after 0.8).
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

namespace sluice::manifest {

// On success sets *root (a null node for an empty text). On failure sets
// *at and *why; never throws.
bool parseSingleDocument(const std::string& text, YAML::Node* root, YAML::Mark* at,
                         std::string* why);

}  // namespace sluice::manifest
