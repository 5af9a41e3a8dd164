// The sandbox's budgeted pattern functions against the stock Lua library:
// any input where both finish must give the same results (or errors). The
// stock matcher runs only when the budgeted one finished within its budget,
// so a backtracking pattern cannot stall the fuzzer.
//
// Input: byte 0 picks the call, byte 1 the start position, then the pattern
// up to the first 0xff byte, then the subject.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" {
#include <lauxlib.h>
#include <lualib.h>
}

#include "sluice/lua_sandbox.h"

namespace {

const char* const kCalls[] = {
    "return string.find(s, p, i)",
    "return string.match(s, p, i)",
    "local r = {} for a, b in string.gmatch(s, p, i) do r[#r + 1] = tostring(a) .. '/' .. "
    "tostring(b) end return table.concat(r, ';')",
    "return string.gsub(s, p, '<%0|%1>')",
    "return string.gsub(s, p, function(a, b) return b end, i)",
};

const char* kWrap =
    "local s, p, i = ...\n"
    "local t = table.pack(pcall(function() %s end))\n"
    "local out = {}\n"
    "for k = 1, t.n do out[k] = type(t[k]) .. ':' .. tostring(t[k]) end\n"
    "return table.concat(out, '|')";

// Runs `code` with (s, p, i); false when the sandbox ran out of budget or memory.
bool run(lua_State* L, sluice_lua_sandbox* sb, const std::string& code, std::string_view s,
         std::string_view p, int init, std::string* out) {
  if (luaL_loadbufferx(L, code.data(), code.size(), "=f", "t") != LUA_OK) abort();
  lua_pushlstring(L, s.data(), s.size());
  lua_pushlstring(L, p.data(), p.size());
  lua_pushinteger(L, init);
  if (sb) {
    char err[256];
    if (sluice_lua_sandbox_pcall(sb, 3, 1, err, sizeof err) != SLUICE_LUA_OK) return false;
  } else if (lua_pcall(L, 3, 1, 0) != LUA_OK) {
    abort();
  }
  size_t len = 0;
  const char* text = lua_tolstring(L, -1, &len);
  out->assign(text, len);
  lua_pop(L, 1);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || size > 256) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
  size_t cut = rest.find('\xff');
  if (cut == std::string_view::npos || cut > 64) return 0;
  std::string_view pattern = rest.substr(0, cut), subject = rest.substr(cut + 1);
  int init = static_cast<int8_t>(data[1]) % 20;
  char code[1024];
  snprintf(code, sizeof code, kWrap, kCalls[data[0] % (sizeof kCalls / sizeof kCalls[0])]);

  sluice_lua_limits limits{8 * 1024 * 1024, 200000};
  char err[256];
  sluice_lua_sandbox* sb = sluice_lua_sandbox_new(&limits, err, sizeof err);
  if (!sb) abort();
  std::string ours;
  bool finished = run(sluice_lua_sandbox_state(sb), sb, code, subject, pattern, init, &ours);
  sluice_lua_sandbox_free(sb);
  if (!finished) return 0;

  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  std::string stock;
  run(L, nullptr, code, subject, pattern, init, &stock);
  lua_close(L);
  if (ours != stock) {
    fprintf(stderr, "sandbox: %s\nstock:   %s\n", ours.c_str(), stock.c_str());
    abort();
  }
  return 0;
}
