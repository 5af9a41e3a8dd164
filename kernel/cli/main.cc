#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    sluice::cli::printUsage();
    return 2;
  }
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "serve") return sluice::cli::cmdServe(args);
  if (cmd == "validate") return sluice::cli::cmdValidate(args);
  if (cmd == "plugins") return sluice::cli::cmdPlugins(args);
  if (cmd == "token") return sluice::cli::cmdToken(args);
  if (cmd == "version" || cmd == "--version") {
    printf("sluice %s (plugin ABI %d.%d)\n", SLUICE_VERSION, 1, 0);
    return 0;
  }
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    sluice::cli::printUsage();
    return 0;
  }
  fprintf(stderr, "unknown command '%s'\n\n", cmd.c_str());
  sluice::cli::printUsage();
  return 2;
}
