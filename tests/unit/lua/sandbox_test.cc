// The Lua sandbox (sdk/lua_sandbox.c): every escape a script could try is
// refused with a clear message, and the same state answers the next call.
#include <gtest/gtest.h>

extern "C" {
#include <lauxlib.h>
#include <lualib.h>
}

#include <string>

#include "sluice/lua_sandbox.h"

namespace {

struct Result {
  sluice_lua_status status;
  std::string error;
  std::string result;  // the chunk's first result, as text, when it returned a string or number
};

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override { sb_ = make(4 * 1024 * 1024, 1000000); }
  void TearDown() override { sluice_lua_sandbox_free(sb_); }

  static sluice_lua_sandbox* make(size_t memory, uint64_t budget) {
    sluice_lua_limits limits{memory, budget};
    char err[256] = {0};
    sluice_lua_sandbox* sb = sluice_lua_sandbox_new(&limits, err, sizeof err);
    EXPECT_NE(sb, nullptr) << err;
    return sb;
  }

  Result run(const std::string& code) { return runIn(sb_, code); }

  static Result runIn(sluice_lua_sandbox* sb, const std::string& code) {
    char err[512] = {0};
    lua_State* L = sluice_lua_sandbox_state(sb);
    int top = lua_gettop(L);
    sluice_lua_status st =
        sluice_lua_sandbox_load(sb, code.data(), code.size(), "test.lua", err, sizeof err);
    if (st != SLUICE_LUA_OK) return {st, err, ""};
    st = sluice_lua_sandbox_pcall(sb, 0, 1, err, sizeof err);
    Result r{st, err, ""};
    if (st == SLUICE_LUA_OK) {
      if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
        r.result = lua_tostring(L, -1);
      }
      lua_pop(L, 1);
    }
    EXPECT_EQ(lua_gettop(L), top) << "the stack is balanced after " << code;
    return r;
  }

  // The state still runs ordinary code after a refused escape.
  void expectUsable() {
    Result r = run("local t = {} for i = 1, 100 do t[i] = i * 2 end return t[100] + #('ok')");
    EXPECT_EQ(r.status, SLUICE_LUA_OK) << r.error;
    EXPECT_EQ(r.result, "202");
  }

  sluice_lua_sandbox* sb_ = nullptr;
};

TEST_F(SandboxTest, RunsOrdinaryCode) {
  Result r = run("return string.format('%s-%d', ('abc'):upper(), math.max(3, 7))");
  ASSERT_EQ(r.status, SLUICE_LUA_OK) << r.error;
  EXPECT_EQ(r.result, "ABC-7");
  r = run("return table.concat({utf8.char(72, 105)}, '') .. select('#', 1, 2)");
  EXPECT_EQ(r.result, "Hi2");
}

TEST_F(SandboxTest, OsIsAbsent) {
  Result r = run("os.execute('touch /tmp/sluice-sandbox-escape')");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_RUN);
  EXPECT_EQ(r.error, "test.lua:1: attempt to index a nil value (global 'os')");
  expectUsable();
}

TEST_F(SandboxTest, IoIsAbsent) {
  Result r = run("local f = io.open('/etc/passwd')");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_RUN);
  EXPECT_EQ(r.error, "test.lua:1: attempt to index a nil value (global 'io')");
  expectUsable();
}

TEST_F(SandboxTest, RequireAndPackageAreAbsent) {
  Result r = run("return require('os')");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_RUN);
  EXPECT_EQ(r.error, "test.lua:1: attempt to call a nil value (global 'require')");
  r = run("return package.loadlib('libc.so.6', 'system')");
  EXPECT_EQ(r.error, "test.lua:1: attempt to index a nil value (global 'package')");
  expectUsable();
}

TEST_F(SandboxTest, DofileAndLoadfileAreAbsent) {
  Result r = run("dofile('/etc/passwd')");
  EXPECT_EQ(r.error, "test.lua:1: attempt to call a nil value (global 'dofile')");
  r = run("loadfile('/etc/passwd')");
  EXPECT_EQ(r.error, "test.lua:1: attempt to call a nil value (global 'loadfile')");
  expectUsable();
}

TEST_F(SandboxTest, DebugPrintAndCollectorAreAbsent) {
  EXPECT_EQ(run("return debug.getregistry()").error,
            "test.lua:1: attempt to index a nil value (global 'debug')");
  EXPECT_EQ(run("print('x')").error, "test.lua:1: attempt to call a nil value (global 'print')");
  EXPECT_EQ(run("collectgarbage('stop')").error,
            "test.lua:1: attempt to call a nil value (global 'collectgarbage')");
  EXPECT_EQ(run("return string.dump(function() end)").error,
            "test.lua:1: attempt to call a nil value (field 'dump')");
  expectUsable();
}

// Bytecode made by an ordinary state, handed to the sandbox's load().
std::string bytecodeOf(const char* source) {
  lua_State* L = luaL_newstate();
  luaL_loadstring(L, source);
  std::string out;
  lua_dump(
      L,
      [](lua_State*, const void* p, size_t n, void* ud) {
        static_cast<std::string*>(ud)->append(static_cast<const char*>(p), n);
        return 0;
      },
      &out, 0);
  lua_close(L);
  return out;
}

TEST_F(SandboxTest, BytecodeIsRefusedByLoad) {
  std::string bc = bytecodeOf("return 42");
  ASSERT_EQ(bc[0], '\x1b');
  lua_State* L = sluice_lua_sandbox_state(sb_);
  lua_pushlstring(L, bc.data(), bc.size());
  lua_setglobal(L, "bc");
  Result r = run("local f, err = load(bc, 'x', 'b') return tostring(f) .. ' / ' .. err");
  ASSERT_EQ(r.status, SLUICE_LUA_OK) << r.error;
  EXPECT_EQ(r.result, "nil / attempt to load a binary chunk (mode is 't')");
  // Text still loads, and runs in the environment it is given.
  r = run("return load('return x + 1', 'calc', 't', {x = 41})()");
  EXPECT_EQ(r.result, "42");
  // A reader function is no way around it.
  r = run("return load(function() return nil end)");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_RUN);
  EXPECT_NE(r.error.find("source text expected"), std::string::npos) << r.error;
  expectUsable();
}

TEST_F(SandboxTest, BytecodeIsRefusedAsAScript) {
  std::string bc = bytecodeOf("return 42");
  char err[256] = {0};
  EXPECT_EQ(sluice_lua_sandbox_load(sb_, bc.data(), bc.size(), "evil.luac", err, sizeof err),
            SLUICE_LUA_ERR_SYNTAX);
  EXPECT_STREQ(err, "evil.luac: is a binary (bytecode) chunk; only Lua source text is accepted");
  expectUsable();
}

TEST_F(SandboxTest, SyntaxErrorNamesChunkAndLine) {
  char err[256] = {0};
  std::string code = "local a = 1\nif a then\n  a = = 2\nend\n";
  EXPECT_EQ(sluice_lua_sandbox_load(sb_, code.data(), code.size(), "policy.lua", err, sizeof err),
            SLUICE_LUA_ERR_SYNTAX);
  EXPECT_STREQ(err, "policy.lua:3: unexpected symbol near '='");
  expectUsable();
}

TEST_F(SandboxTest, StringRepBombHitsTheMemoryCap) {
  Result r = run("local s = string.rep('x', 64 * 1024 * 1024) return #s");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_MEMORY);
  EXPECT_EQ(r.error, "memory cap of 4194304 bytes exceeded");
  // Doubling a string until it no longer fits.
  r = run("local s = 'x' while true do s = s .. s end");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_MEMORY);
  EXPECT_LE(sluice_lua_sandbox_memory_used(sb_), sluice_lua_sandbox_memory_cap(sb_));
  expectUsable();
}

TEST_F(SandboxTest, TableGrowthBombHitsTheMemoryCap) {
  Result r = run("local t = {} local i = 0 while true do i = i + 1 t[i] = {i} end");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_MEMORY);
  EXPECT_EQ(r.error, "memory cap of 4194304 bytes exceeded");
  // The garbage went back: the state is far below its cap again.
  EXPECT_LT(sluice_lua_sandbox_memory_used(sb_), 512u * 1024);
  expectUsable();
}

TEST_F(SandboxTest, GrowingGlobalsHitTheCapToo) {
  Result r = run("big = {} for i = 1, 1e9 do big[i] = 'item' .. i end");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_MEMORY);
  EXPECT_LE(sluice_lua_sandbox_memory_used(sb_), sluice_lua_sandbox_memory_cap(sb_));
  // Dropping the global frees the room.
  EXPECT_EQ(run("big = nil return 1").status, SLUICE_LUA_OK);
}

TEST_F(SandboxTest, EndlessLoopRunsOutOfBudget) {
  Result r = run("local n = 0\nwhile true do\n  n = n + 1\nend");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_BUDGET);
  EXPECT_NE(r.error.find("instruction budget of 1000000 exceeded"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.rfind("test.lua:", 0), 0u) << "names where it ran out: " << r.error;
  EXPECT_GE(sluice_lua_sandbox_instructions(sb_), 1000000u);
  EXPECT_LT(sluice_lua_sandbox_instructions(sb_), 1010000u);
  expectUsable();
}

TEST_F(SandboxTest, PcallCannotSwallowTheBudget) {
  Result r =
      run("local caught = 0\n"
          "while true do\n"
          "  pcall(function() while true do end end)\n"
          "  caught = caught + 1\n"
          "end");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_BUDGET);
  r =
      run("while true do xpcall(function() while true do end end, function(e) return 'hidden' end) "
          "end");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_BUDGET);
  EXPECT_NE(r.error.find("instruction budget"), std::string::npos) << r.error;
  expectUsable();
}

TEST_F(SandboxTest, CoroutineEndlessLoopRunsOutOfBudget) {
  Result r = run("coroutine.wrap(function() while true do end end)()");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_BUDGET);
  // Fresh coroutines, each resumed (errors caught by resume), share one budget.
  r =
      run("while true do\n"
          "  coroutine.resume(coroutine.create(function() while true do end end))\n"
          "end");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_BUDGET);
  EXPECT_LT(sluice_lua_sandbox_instructions(sb_), 1100000u);
  expectUsable();
}

TEST_F(SandboxTest, CoroutineKeptAcrossCallsStillCounts) {
  ASSERT_EQ(
      run("spin = coroutine.wrap(function() while true do coroutine.yield() end end) return 1")
          .status,
      SLUICE_LUA_OK);
  EXPECT_EQ(run("for i = 1, 10 do spin() end return 1").status, SLUICE_LUA_OK);
  Result r = run("while true do spin() end");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_BUDGET);
  EXPECT_EQ(run("spin = nil return 1").status, SLUICE_LUA_OK);
}

TEST_F(SandboxTest, DeepRecursionFailsCleanly) {
  Result r = run("local function f(n) return 1 + f(n + 1) end return f(1)");
  EXPECT_TRUE(r.status == SLUICE_LUA_ERR_MEMORY || r.status == SLUICE_LUA_ERR_RUN) << r.status;
  EXPECT_TRUE(r.error.find("stack overflow") != std::string::npos ||
              r.error.find("memory cap") != std::string::npos)
      << r.error;
  // Through a metamethod: the C stack is guarded too.
  r = run("local t = setmetatable({}, {__index = function(t, k) return t[k] end}) return t.x");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_RUN);
  EXPECT_NE(r.error.find("stack overflow"), std::string::npos) << r.error;
  expectUsable();
}

TEST_F(SandboxTest, FinalizersAreRefused) {
  Result r = run("setmetatable({}, {__gc = function() while true do end end})");
  EXPECT_EQ(r.status, SLUICE_LUA_ERR_RUN);
  EXPECT_EQ(r.error, "test.lua:1: __gc metamethods are not allowed in the sandbox");
  // Ordinary metatables work, and protected ones stay protected.
  r =
      run("local t = setmetatable({}, {__index = function(_, k) return k .. '!' end,"
          " __metatable = 'locked'}) "
          "local ok, err = pcall(setmetatable, t, {}) return t.hi .. ' ' .. err");
  EXPECT_EQ(r.result, "hi! cannot change a protected metatable");
  expectUsable();
}

TEST_F(SandboxTest, ErrorObjectsOfAnyTypeBecomeText) {
  EXPECT_EQ(run("error({code = 1})").error, "(error object is a table value)");
  EXPECT_EQ(run("error(42)").error, "42");
  EXPECT_EQ(run("error('plain', 0)").error, "plain");
  expectUsable();
}

TEST_F(SandboxTest, BudgetIsPerCall) {
  // Many calls that each stay within the budget all succeed.
  for (int i = 0; i < 5; i++) {
    Result r = run("local n = 0 for i = 1, 100000 do n = n + i end return n");
    ASSERT_EQ(r.status, SLUICE_LUA_OK) << r.error;
    EXPECT_EQ(r.result, "5000050000");
  }
}

TEST_F(SandboxTest, CapTooSmallForTheLibrariesIsReported) {
  sluice_lua_limits limits{4096, 1000};
  char err[256] = {0};
  EXPECT_EQ(sluice_lua_sandbox_new(&limits, err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("memory cap of 4096 bytes is too small"), std::string::npos)
      << err;
}

// sluice_lua_sandbox_call runs C glue protected: its own errors come back as
// a status too.
TEST_F(SandboxTest, CallRunsGlueProtected) {
  char err[256] = {0};
  int seen = 0;
  auto glue = [](lua_State* L) -> int {
    int* seen = static_cast<int*>(lua_touserdata(L, 1));
    *seen = 1;
    return luaL_error(L, "glue says no");
  };
  EXPECT_EQ(sluice_lua_sandbox_call(sb_, glue, &seen, err, sizeof err), SLUICE_LUA_ERR_RUN);
  EXPECT_EQ(seen, 1);
  EXPECT_STREQ(err, "glue says no");
  EXPECT_EQ(lua_gettop(sluice_lua_sandbox_state(sb_)), 0);
  expectUsable();
}

TEST(SandboxLimits, UnlimitedWhenZero) {
  sluice_lua_limits limits{0, 0};
  char err[256] = {0};
  sluice_lua_sandbox* sb = sluice_lua_sandbox_new(&limits, err, sizeof err);
  ASSERT_NE(sb, nullptr) << err;
  std::string code = "local n = 0 for i = 1, 3000000 do n = n + 1 end return n";
  ASSERT_EQ(sluice_lua_sandbox_load(sb, code.data(), code.size(), "t.lua", err, sizeof err),
            SLUICE_LUA_OK);
  EXPECT_EQ(sluice_lua_sandbox_pcall(sb, 0, 0, err, sizeof err), SLUICE_LUA_OK) << err;
  sluice_lua_sandbox_free(sb);
}

}  // namespace
