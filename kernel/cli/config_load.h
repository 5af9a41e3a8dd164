// Loading a manifest the way every command does: out-of-tree plugins named in
// `plugins:` are loaded first, so their config schemas are known when the
// rest of the manifest is checked.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "manifest/config.h"
#include "plugins/registry.h"

namespace sluice::cli {

// path empty: the built-in default. Returns nullptr with one line per
// problem in *errors.
std::shared_ptr<const manifest::Config> loadConfig(const std::string& path,
                                                   plugins::Registry* registry,
                                                   std::vector<std::string>* errors);

}  // namespace sluice::cli
