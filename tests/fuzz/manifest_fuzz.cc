// libFuzzer target: manifest loading (YAML parse, interpolation, every
// section parser, plugin schema checks) must never crash, hang or leak on
// any input; it may only report errors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "manifest/loader.h"

namespace {

using sluice::manifest::SchemaLookup;

constexpr sluice_config_key kEnd = {nullptr, SLUICE_CFG_STRING, 0,       nullptr, 0,
                                    0,       nullptr,           nullptr, nullptr};
const char* const kModes[] = {"a", "b", nullptr};
const sluice_config_key kAuth[] = {
    {"bearer", SLUICE_CFG_STRING, SLUICE_CFG_SECRET, nullptr, 0, 0, nullptr, nullptr, ""}, kEnd};
// One schema exercising every key type, used for every known plugin name.
const sluice_config_key kSchema[] = {
    {"base_url", SLUICE_CFG_STRING, 0, "\"http://localhost\"", 0, 0, nullptr, nullptr, ""},
    {"auth", SLUICE_CFG_OBJECT, 0, nullptr, 0, 0, nullptr, kAuth, ""},
    {"mode", SLUICE_CFG_STRING, 0, "\"a\"", 0, 0, kModes, nullptr, ""},
    {"latency_ms", SLUICE_CFG_INT, 0, "0", 0, 60000, nullptr, nullptr, ""},
    {"ratio", SLUICE_CFG_NUMBER, 0, nullptr, 0, 1, nullptr, nullptr, ""},
    {"on", SLUICE_CFG_BOOL, 0, "true", 0, 0, nullptr, nullptr, ""},
    {"labels", SLUICE_CFG_STRING_LIST, 0, "[]", 0, 0, nullptr, nullptr, ""},
    {"headers", SLUICE_CFG_OBJECT, 0, nullptr, 0, 0, nullptr, nullptr, ""},
    {"extra", SLUICE_CFG_ANY, 0, nullptr, 0, 0, nullptr, nullptr, ""},
    {"path", SLUICE_CFG_STRING, SLUICE_CFG_REQUIRED, nullptr, 0, 0, nullptr, nullptr, ""},
    kEnd};

bool lookup(sluice_kind, const std::string& name, const sluice_config_key** keys,
            std::string* why) {
  if (name == "none") {
    *keys = nullptr;
    return true;
  }
  if (name.empty() || name[0] == 'x') {
    *why = "no plugin named '" + name + "'";
    return false;
  }
  *keys = kSchema;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("SLUICE_FUZZ_KEY", "sk-fuzz", 1);
  setenv("SLUICE_FUZZ_PORT", "8080", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const SchemaLookup kLookup = lookup;
  std::string text(reinterpret_cast<const char*>(data), size);
  sluice::manifest::LoadResult r =
      sluice::manifest::loadString(text, "/tmp/sluice-fuzz/manifest.yaml", kLookup);
  // Every error must format; a loaded config must be usable.
  for (const auto& e : r.errors) (void)e.str();
  return 0;
}
