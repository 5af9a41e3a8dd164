// The sandbox's budgeted string.find/match/gmatch/gsub against the stock Lua
// library: the same results and the same errors for the whole pattern
// language, and a budget error where the stock matcher would backtrack for
// minutes.
#include <gtest/gtest.h>

extern "C" {
#include <lauxlib.h>
#include <lualib.h>
}

#include <string>
#include <vector>

#include "sluice/lua_sandbox.h"

namespace {

// Serialises every result of `code` (or its error) the same way in both states.
const char* kPrelude =
    "local function ser(ok, ...)\n"
    "  local t = table.pack(...)\n"
    "  local out = {ok and 'ok' or 'err'}\n"
    "  for i = 1, t.n do out[#out + 1] = type(t[i]) .. ':' .. tostring(t[i]) end\n"
    "  return table.concat(out, '|')\n"
    "end\n"
    "local function all(it) local r = {} for a, b in it do r[#r + 1] = tostring(a) .. '/' .. "
    "tostring(b) end return table.concat(r, ';') end\n"
    "local s, p = ...\n"
    "return ser(pcall(function() ";

std::string wrap(const std::string& body) { return std::string(kPrelude) + body + " end))"; }

std::string runStock(const std::string& code, const std::string& s, const std::string& p) {
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  std::string out;
  if (luaL_loadbufferx(L, code.data(), code.size(), "=t", "t") != LUA_OK) {
    out = std::string("load: ") + lua_tostring(L, -1);
  } else {
    lua_pushlstring(L, s.data(), s.size());
    lua_pushlstring(L, p.data(), p.size());
    out = lua_pcall(L, 2, 1, 0) == LUA_OK ? lua_tostring(L, -1) : lua_tostring(L, -1);
  }
  lua_close(L);
  return out;
}

std::string runSandbox(const std::string& code, const std::string& s, const std::string& p) {
  sluice_lua_limits limits{16 * 1024 * 1024, 10000000};
  char err[512] = {0};
  sluice_lua_sandbox* sb = sluice_lua_sandbox_new(&limits, err, sizeof err);
  if (!sb) return std::string("new: ") + err;
  lua_State* L = sluice_lua_sandbox_state(sb);
  std::string out;
  // "=t" names the chunk like the stock run: the sandbox's loader adds '@'.
  if (luaL_loadbufferx(L, code.data(), code.size(), "=t", "t") != LUA_OK) {
    out = std::string("load: ") + lua_tostring(L, -1);
  } else {
    lua_pushlstring(L, s.data(), s.size());
    lua_pushlstring(L, p.data(), p.size());
    if (sluice_lua_sandbox_pcall(sb, 2, 1, err, sizeof err) == SLUICE_LUA_OK) {
      out = lua_tostring(L, -1);
    } else {
      out = std::string("sandbox: ") + err;
    }
  }
  sluice_lua_sandbox_free(sb);
  return out;
}

struct Case {
  std::string s, p;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"hello world", "o"},
      {"hello world", "o w"},
      {"hello world", "(o)(r)"},
      {"hello world", "^hello"},
      {"hello world", "^world"},
      {"hello world", "world$"},
      {"hello world", "l+"},
      {"hello world", "l*"},
      {"hello world", "l-o"},
      {"hello world", "x?h"},
      {"hello world", "%a+"},
      {"hello world", "%A"},
      {"  trim me  ", "^%s*(.-)%s*$"},
      {"key = value", "(%w+)%s*=%s*(%w+)"},
      {"2024-01-31", "(%d+)-(%d+)-(%d+)"},
      {"THE (quick) fox", "%((%a+)%)"},
      {"f(a(b)c)d", "%b()"},
      {"no balance (", "%b()"},
      {"THE (quick) fox", "%f[%a]%a+"},
      {"hello.world", "%."},
      {"a.b", "."},
      {"[x]", "[]x]"},
      {"a-b", "[a-]"},
      {"abc123", "[^%d]+"},
      {"abc123", "[%d]+"},
      {"abc", "[a-c]+"},
      {"x^y", "^x%^y"},
      {"a$b", "a$b"},
      {"abcabc", "(abc)%1"},
      {"abab", "(a)(b)%2"},
      {"hello", "()ll()"},
      {"hello", "()"},
      {"", ""},
      {"", "^$"},
      {"abc", ""},
      {std::string("a\0b", 3), std::string("\0", 1)},
      {std::string("a\0b", 3), std::string("%z", 2)},
      {"caf\xc3\xa9 ok", "[\x80-\xff]+"},
      {"%d", "%%d"},
      // Malformed patterns: the same errors.
      {"abc", "%"},
      {"abc", "[a"},
      {"abc", "(a"},
      {"abc", "a)"},
      {"abc", "%b"},
      {"abc", "%f"},
      {"abc", "%1"},
      {"abc", "(a)%2"},
      {"abc", "((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))"},
  };
  return c;
}

const std::vector<std::string>& calls() {
  static const std::vector<std::string> c = {
      "return string.find(s, p)",
      "return string.find(s, p, 3)",
      "return string.find(s, p, -4)",
      "return string.find(s, p, 100)",
      "return string.find(s, p, 1, true)",
      "return string.match(s, p)",
      "return string.match(s, p, 2)",
      "return all(string.gmatch(s, p))",
      "return all(string.gmatch(s, p, 3))",
      "return string.gsub(s, p, '<%0>')",
      "return string.gsub(s, p, '[%1]')",
      "return string.gsub(s, p, '%%', 1)",
      "return string.gsub(s, p, function(a, b) return a and a:upper() end)",
      "return string.gsub(s, p, {hello = 'HI', o = 0, l = false})",
      "return (s):gsub(p, 7, 2)",
  };
  return c;
}

TEST(SandboxPatterns, SameResultsAsTheStockLibrary) {
  int compared = 0;
  for (const Case& c : cases()) {
    for (const std::string& call : calls()) {
      std::string code = wrap(call);
      std::string stock = runStock(code, c.s, c.p);
      std::string ours = runSandbox(code, c.s, c.p);
      EXPECT_EQ(ours, stock) << call << " with s='" << c.s << "' p='" << c.p << "'";
      compared++;
    }
  }
  EXPECT_EQ(compared, static_cast<int>(cases().size() * calls().size()));
}

TEST(SandboxPatterns, ReplacementErrorsMatchToo) {
  for (const char* call : {"return string.gsub(s, p, '%x')", "return string.gsub(s, p, '%')",
                           "return string.gsub(s, p, {o = {}})", "return string.gsub(s, p, true)",
                           "return string.gsub(s, p, '%2')"}) {
    std::string code = wrap(call);
    EXPECT_EQ(runSandbox(code, "hello", "(o)"), runStock(code, "hello", "(o)")) << call;
  }
}

class BudgetedPatterns : public ::testing::Test {
 protected:
  void SetUp() override {
    sluice_lua_limits limits{16 * 1024 * 1024, 1000000};
    char err[256] = {0};
    sb_ = sluice_lua_sandbox_new(&limits, err, sizeof err);
    ASSERT_NE(sb_, nullptr) << err;
  }
  void TearDown() override { sluice_lua_sandbox_free(sb_); }

  sluice_lua_status run(const std::string& code, std::string* error) {
    char err[512] = {0};
    sluice_lua_status st =
        sluice_lua_sandbox_load(sb_, code.data(), code.size(), "p.lua", err, sizeof err);
    if (st == SLUICE_LUA_OK) st = sluice_lua_sandbox_pcall(sb_, 0, 0, err, sizeof err);
    *error = err;
    return st;
  }

  sluice_lua_sandbox* sb_ = nullptr;
};

// The stock matcher needs minutes for each of these; the budget stops them.
TEST_F(BudgetedPatterns, BacktrackingRunsOutOfBudget) {
  const char* bombs[] = {
      "local s = string.rep('a', 100000)\nreturn s:find('%w+@')",
      "local s = string.rep('a', 3000)\nreturn s:match('a*a*a*b')",
      "local s = string.rep('a', 3000)\nfor w in s:gmatch('a-a-a-b') do end",
      "local s = string.rep('a', 3000)\nreturn s:gsub('.-.-.-x', '')",
      "local s = string.rep('(', 50000)\nreturn s:find('%b()')",
  };
  for (const char* code : bombs) {
    std::string err;
    EXPECT_EQ(run(code, &err), SLUICE_LUA_ERR_BUDGET) << code;
    EXPECT_EQ(err, "p.lua:2: instruction budget of 1000000 exceeded") << code;
  }
  std::string err;
  EXPECT_EQ(run("return ('ok'):find('k')", &err), SLUICE_LUA_OK) << err;
}

TEST_F(BudgetedPatterns, PcallCannotSwallowAPatternBudgetError) {
  std::string err;
  EXPECT_EQ(run("local s = string.rep('a', 3000)\n"
                "while true do pcall(string.find, s, 'a*a*a*b') end",
                &err),
            SLUICE_LUA_ERR_BUDGET);
}

TEST_F(BudgetedPatterns, MatchingWorkCountsTowardsTheBudget) {
  std::string err;
  ASSERT_EQ(run("local s = string.rep('ab', 1000) for i = 1, 10 do s:find('b+c') end", &err),
            SLUICE_LUA_OK)
      << err;
  // 10 searches over 2000 characters: thousands of steps, not a handful.
  EXPECT_GT(sluice_lua_sandbox_instructions(sb_), 20000u);
  // A plain search is linear and costs nothing extra.
  ASSERT_EQ(run("local s = string.rep('a', 1000000) .. 'b' return s:find('aab', 1, true)", &err),
            SLUICE_LUA_OK)
      << err;
  EXPECT_LT(sluice_lua_sandbox_instructions(sb_), 10000u);
}

TEST_F(BudgetedPatterns, ReplacementFunctionsShareTheBudget) {
  std::string err;
  EXPECT_EQ(run("local s = string.rep('x', 100)\n"
                "return s:gsub('x', function() while true do end end)",
                &err),
            SLUICE_LUA_ERR_BUDGET);
  EXPECT_EQ(err, "p.lua:2: instruction budget of 1000000 exceeded");
}

}  // namespace
