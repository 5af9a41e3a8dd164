// The sluice command line: each subcommand is a function of its arguments
// (everything after the subcommand name) returning the exit code.
#pragma once

#include <string>
#include <vector>

namespace sluice::cli {

int cmdServe(const std::vector<std::string>& args);
int cmdValidate(const std::vector<std::string>& args);
int cmdPlugins(const std::vector<std::string>& args);
int cmdToken(const std::vector<std::string>& args);
void printUsage();
std::string sha256Hex(const std::string& data);

}  // namespace sluice::cli
