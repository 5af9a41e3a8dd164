#include "lua/policies.h"

#include <atomic>
#include <cstdlib>

#include "lua/script_state.h"
#include "manifest/loader.h"

namespace sluice::lua {
namespace {

std::atomic<uint64_t> next_id{1};

uint8_t bit(Hook h) { return static_cast<uint8_t>(1u << static_cast<int>(h)); }

std::string fileName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

const char* hookName(Hook hook) {
  switch (hook) {
    case Hook::Request: return "on_request";
    case Hook::Response: return "on_response";
    case Hook::Log: return "on_log";
  }
  return "?";
}

std::shared_ptr<const Policies> Policies::load(const std::vector<manifest::PolicyConfig>& configs,
                                               std::vector<std::string>* errors) {
  std::shared_ptr<Policies> policies(new Policies());
  policies->id_ = next_id.fetch_add(1);
  // Worker states keep pointers to their Script: no reallocation after this.
  policies->scripts_.reserve(configs.size());
  size_t before = errors->size();
  for (size_t i = 0; i < configs.size(); i++) {
    const manifest::PolicyConfig& pc = configs[i];
    std::string key = "policies[" + std::to_string(i) + "]";
    auto fail = [&](const char* field, std::string why) {
      errors->push_back(manifest::Error{pc.mark, key + "." + field, std::move(why)}.str());
    };
    Script& script = policies->scripts_.emplace_back();
    script.path = pc.script;
    script.name = fileName(pc.script);
    script.limits = sluice_lua_limits{pc.memory_bytes, pc.instruction_budget};
    char* text = nullptr;
    size_t len = 0;
    char err[512];
    if (sluice_lua_read_file(script.path.c_str(), kMaxScriptBytes, &text, &len, err, sizeof err)) {
      fail("script", err);
      continue;
    }
    script.source.assign(text, len);
    free(text);
    std::string why;
    // The script runs once here exactly as it will on every worker.
    std::unique_ptr<ScriptState> check = ScriptState::create(script, &why);
    if (!check) {
      fail("script", why);
      continue;
    }
    uint8_t defined = 0;
    for (int h = 0; h < kHookCount; h++) {
      if (check->defines(static_cast<Hook>(h))) defined |= bit(static_cast<Hook>(h));
    }
    if (pc.hooks.empty()) {
      if (!defined) fail("script", "the script defines none of on_request, on_response, on_log");
      script.hooks = defined;
    }
    for (const std::string& name : pc.hooks) {
      for (int h = 0; h < kHookCount; h++) {
        if (name != hookName(static_cast<Hook>(h))) continue;
        if (defined & bit(static_cast<Hook>(h))) {
          script.hooks |= bit(static_cast<Hook>(h));
        } else {
          fail("hooks", name + " is listed but the script defines no function " + name);
        }
      }
    }
    policies->hooks_ |= script.hooks;
  }
  if (errors->size() != before) return nullptr;
  return policies;
}

}  // namespace sluice::lua
