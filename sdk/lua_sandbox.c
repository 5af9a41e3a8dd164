/*
 * The Lua sandbox (sluice/lua_sandbox.h): a capped allocator, a budgeted
 * count hook and a trimmed standard library, after Redis scripting.
 */
#include "sluice/lua_sandbox.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lua_sandbox_internal.h"

/* The hook runs every kHookStep instructions (or every `budget` when that is
 * smaller): often enough for a tight budget, rarely enough to cost nothing. */
#define kHookStep 1000u

struct sluice_lua_sandbox {
  lua_State* L;
  size_t used;
  size_t cap;
  int cap_hit; /* an allocation was refused during the current call */
  uint64_t budget;
  uint64_t spent;
  int step;
  int budget_hit;
  char where[96]; /* "chunk:line: " where the budget ran out */
};

/* ------------------------------------------------------------------------ */
/* Memory: every allocation of the state goes through here. Growth past the
 * cap is refused (Lua then collects garbage, retries once and raises a
 * memory error); shrinking and freeing always succeed, as Lua requires. */

static void* sandbox_alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  sluice_lua_sandbox* sb = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    sb->used -= old;
    return NULL;
  }
  if (nsize > old && sb->cap && nsize - old > sb->cap - sb->used) {
    sb->cap_hit = 1;
    return NULL;
  }
  void* block = realloc(ptr, nsize);
  if (!block) return NULL;
  sb->used = sb->used - old + nsize;
  return block;
}

/* ------------------------------------------------------------------------ */
/* Instructions. The hook is inherited by coroutines created from a hooked
 * thread, and every thread adds to the one per-call count. */

static sluice_lua_sandbox* sandbox_of(lua_State* L) {
  void* ud = NULL;
  lua_getallocf(L, &ud);
  return ud;
}

static void count_hook(lua_State* L, lua_Debug* ar);

/* The call is out of instructions: remember where (the Lua function at
 * `level`), and raise. From now on every instruction of this thread, of the
 * main thread and of any coroutine they create fails again: a pcall in the
 * script may catch the error but cannot run on. */
static int exhaust(sluice_lua_sandbox* sb, lua_State* L, int level) {
  lua_Debug ar;
  if (!sb->budget_hit) {
    sb->budget_hit = 1;
    if (lua_getstack(L, level, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
      snprintf(sb->where, sizeof sb->where, "%s:%d: ", ar.short_src, ar.currentline);
    }
  }
  lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
  if (L != sb->L) lua_sethook(sb->L, count_hook, LUA_MASKCOUNT, 1);
  return luaL_error(L, "instruction budget of %llu exceeded", (unsigned long long)sb->budget);
}

static void count_hook(lua_State* L, lua_Debug* ar) {
  (void)ar;
  sluice_lua_sandbox* sb = sandbox_of(L);
  int count = lua_gethookcount(L);
  sb->spent += (uint64_t)count;
  if (!sb->budget_hit && sb->spent < sb->budget) {
    /* A coroutine left at a count of 1 by an earlier call goes back to the step. */
    if (count != sb->step) lua_sethook(L, count_hook, LUA_MASKCOUNT, sb->step);
    return;
  }
  exhaust(sb, L, 0);
}

uint64_t sluice_lua_budget_left(lua_State* L) {
  sluice_lua_sandbox* sb = sandbox_of(L);
  if (!sb->budget) return UINT64_MAX;
  return sb->budget_hit || sb->spent >= sb->budget ? 0 : sb->budget - sb->spent;
}

void sluice_lua_budget_spend(lua_State* L, uint64_t n) { sandbox_of(L)->spent += n; }

int sluice_lua_budget_exhausted(lua_State* L) {
  sluice_lua_sandbox* sb = sandbox_of(L);
  sb->spent = sb->budget;
  return exhaust(sb, L, 1); /* level 1: the Lua code that called the C function */
}

static void arm(sluice_lua_sandbox* sb) {
  sb->spent = 0;
  sb->budget_hit = 0;
  sb->cap_hit = 0;
  sb->where[0] = '\0';
  if (sb->budget) lua_sethook(sb->L, count_hook, LUA_MASKCOUNT, sb->step);
}

/* ------------------------------------------------------------------------ */
/* The trimmed library. */

/* load(text [, chunkname [, mode [, env]]]): source text only, whatever the
 * mode asks for; no reader functions, no binary chunks. */
static int sandbox_load(lua_State* L) {
  size_t len = 0;
  if (lua_type(L, 1) != LUA_TSTRING) {
    return luaL_argerror(L, 1, "source text expected (the sandbox loads no functions or bytecode)");
  }
  const char* text = lua_tolstring(L, 1, &len);
  const char* chunkname = luaL_optstring(L, 2, "=(load)");
  int env = lua_isnone(L, 4) ? 0 : 4;
  if (luaL_loadbufferx(L, text, len, chunkname, "t") != LUA_OK) {
    luaL_pushfail(L);
    lua_insert(L, -2);
    return 2; /* fail, message */
  }
  if (env) {
    lua_pushvalue(L, env);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  }
  return 1;
}

/* setmetatable without __gc: finalizers run with hooks off, outside the
 * budget, so one with an endless loop would hang the thread. */
static int sandbox_setmetatable(lua_State* L) {
  int t = lua_type(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  if (t == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    int gc = lua_rawget(L, 2);
    lua_pop(L, 1);
    if (gc != LUA_TNIL) return luaL_error(L, "__gc metamethods are not allowed in the sandbox");
  }
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) {
    return luaL_error(L, "cannot change a protected metatable");
  }
  lua_settop(L, 2);
  lua_setmetatable(L, 1);
  return 1;
}

static void drop_field(lua_State* L, int table, const char* name) {
  lua_pushnil(L);
  lua_setfield(L, table, name);
}

static int open_sandbox_libs(lua_State* L) {
  static const luaL_Reg libs[] = {
      {LUA_GNAME, luaopen_base},
      {LUA_STRLIBNAME, luaopen_string},
      {LUA_TABLIBNAME, luaopen_table},
      {LUA_MATHLIBNAME, luaopen_math},
      {LUA_UTF8LIBNAME, luaopen_utf8},
      {LUA_COLIBNAME, luaopen_coroutine},
      {NULL, NULL},
  };
  for (const luaL_Reg* lib = libs; lib->func; lib++) {
    luaL_requiref(L, lib->name, lib->func, 1);
    lua_pop(L, 1);
  }
  lua_pushglobaltable(L);
  int g = lua_gettop(L);
  /* Files, the process's stdout/stderr and the collector's knobs. */
  static const char* const removed[] = {"dofile",         "loadfile", "print",
                                        "collectgarbage", "warn",     NULL};
  for (const char* const* name = removed; *name; name++) drop_field(L, g, *name);
  lua_pushcfunction(L, sandbox_load);
  lua_setfield(L, g, "load");
  lua_pushcfunction(L, sandbox_setmetatable);
  lua_setfield(L, g, "setmetatable");
  lua_getfield(L, g, LUA_STRLIBNAME);
  drop_field(L, lua_gettop(L), "dump"); /* bytecode out is no use without bytecode in */
  sluice_lua_open_patterns(L);
  lua_pop(L, 2);
  return 0;
}

static int panic(lua_State* L) {
  const char* msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(no message)";
  fprintf(stderr, "lua sandbox: unprotected error: %s\n", msg);
  abort();
}

/* ------------------------------------------------------------------------ */

static void put(char* err, size_t err_len, const char* text) {
  if (err && err_len) snprintf(err, err_len, "%s", text);
}

/* The error object at the top of the stack as text, without calling
 * metamethods or allocating (this may run outside any protected call). */
static void describe_error(lua_State* L, char* err, size_t err_len) {
  if (!err || !err_len) return;
  switch (lua_type(L, -1)) {
    case LUA_TSTRING: snprintf(err, err_len, "%s", lua_tostring(L, -1)); break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, -1)) {
        snprintf(err, err_len, "%lld", (long long)lua_tointeger(L, -1));
      } else {
        snprintf(err, err_len, "%.14g", (double)lua_tonumber(L, -1));
      }
      break;
    default: snprintf(err, err_len, "(error object is a %s value)", luaL_typename(L, -1));
  }
}

sluice_lua_sandbox* sluice_lua_sandbox_new(const sluice_lua_limits* limits, char* err,
                                           size_t err_len) {
  sluice_lua_sandbox* sb = calloc(1, sizeof *sb);
  if (!sb) {
    put(err, err_len, "out of memory");
    return NULL;
  }
  sb->cap = limits ? limits->memory_bytes : 0;
  sb->budget = limits ? limits->instruction_budget : 0;
  sb->step = sb->budget && sb->budget < kHookStep ? (int)sb->budget : (int)kHookStep;
  sb->L = lua_newstate(sandbox_alloc, sb);
  if (!sb->L) {
    if (err)
      snprintf(err, err_len, "memory cap of %zu bytes is too small for a Lua state", sb->cap);
    free(sb);
    return NULL;
  }
  lua_atpanic(sb->L, panic);
  lua_pushcfunction(sb->L, open_sandbox_libs);
  if (lua_pcall(sb->L, 0, 0, 0) != LUA_OK) {
    if (err && sb->cap_hit) {
      snprintf(err, err_len, "memory cap of %zu bytes is too small for the Lua libraries", sb->cap);
    } else {
      describe_error(sb->L, err, err_len);
    }
    sluice_lua_sandbox_free(sb);
    return NULL;
  }
  return sb;
}

void sluice_lua_sandbox_free(sluice_lua_sandbox* sb) {
  if (!sb) return;
  if (sb->L) lua_close(sb->L);
  free(sb);
}

lua_State* sluice_lua_sandbox_state(sluice_lua_sandbox* sb) { return sb->L; }

sluice_lua_status sluice_lua_sandbox_load(sluice_lua_sandbox* sb, const char* source, size_t len,
                                          const char* chunkname, char* err, size_t err_len) {
  char name[512];
  if (!chunkname) chunkname = "?";
  if (len > 0 && source[0] == LUA_SIGNATURE[0]) {
    if (err) {
      snprintf(err, err_len, "%s: is a binary (bytecode) chunk; only Lua source text is accepted",
               chunkname);
    }
    return SLUICE_LUA_ERR_SYNTAX;
  }
  snprintf(name, sizeof name, "@%s", chunkname);
  sb->cap_hit = 0;
  int rc = luaL_loadbufferx(sb->L, source, len, name, "t");
  if (rc == LUA_OK) return SLUICE_LUA_OK;
  if (rc == LUA_ERRMEM) {
    if (err) {
      snprintf(err, err_len, "%s: memory cap of %zu bytes exceeded while compiling", chunkname,
               sb->cap);
    }
    lua_pop(sb->L, 1);
    lua_gc(sb->L, LUA_GCCOLLECT);
    return SLUICE_LUA_ERR_MEMORY;
  }
  describe_error(sb->L, err, err_len);
  lua_pop(sb->L, 1);
  return SLUICE_LUA_ERR_SYNTAX;
}

sluice_lua_status sluice_lua_sandbox_pcall(sluice_lua_sandbox* sb, int nargs, int nresults,
                                           char* err, size_t err_len) {
  lua_State* L = sb->L;
  int base = lua_gettop(L) - nargs - 1;
  arm(sb);
  int rc = lua_pcall(L, nargs, nresults, 0);
  if (rc == LUA_OK) return SLUICE_LUA_OK;
  sluice_lua_status status;
  if (sb->budget_hit) {
    status = SLUICE_LUA_ERR_BUDGET;
    if (err) {
      snprintf(err, err_len, "%sinstruction budget of %llu exceeded", sb->where,
               (unsigned long long)sb->budget);
    }
  } else if (rc == LUA_ERRMEM) {
    status = SLUICE_LUA_ERR_MEMORY;
    if (err && sb->cap_hit) {
      snprintf(err, err_len, "memory cap of %zu bytes exceeded", sb->cap);
    } else {
      put(err, err_len, "out of memory");
    }
  } else {
    status = SLUICE_LUA_ERR_RUN;
    describe_error(L, err, err_len);
  }
  lua_settop(L, base < 0 ? 0 : base);
  /* What the failed call built is garbage now: give the memory back before
   * the next call needs it. */
  if (status == SLUICE_LUA_ERR_MEMORY) lua_gc(L, LUA_GCCOLLECT);
  return status;
}

sluice_lua_status sluice_lua_sandbox_run(sluice_lua_sandbox* sb, const char* source, size_t len,
                                         const char* chunkname, char* err, size_t err_len) {
  sluice_lua_status status = sluice_lua_sandbox_load(sb, source, len, chunkname, err, err_len);
  if (status != SLUICE_LUA_OK) return status;
  status = sluice_lua_sandbox_pcall(sb, 0, 0, err, err_len);
  if (status != SLUICE_LUA_OK && err && err_len) {
    size_t used = strlen(err);
    snprintf(err + used, err_len - used, " (while running the script's top level)");
  }
  return status;
}

sluice_lua_status sluice_lua_sandbox_call(sluice_lua_sandbox* sb, lua_CFunction fn, void* ud,
                                          char* err, size_t err_len) {
  if (!lua_checkstack(sb->L, 2)) {
    put(err, err_len, "out of Lua stack space");
    return SLUICE_LUA_ERR_MEMORY;
  }
  lua_pushcfunction(sb->L, fn);
  lua_pushlightuserdata(sb->L, ud);
  return sluice_lua_sandbox_pcall(sb, 1, 0, err, err_len);
}

int sluice_lua_read_file(const char* path, size_t max_bytes, char** text, size_t* len, char* err,
                         size_t err_len) {
  struct stat st;
  *text = NULL;
  *len = 0;
  if (stat(path, &st) != 0) {
    if (err) snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    if (err) snprintf(err, err_len, "cannot read %s: not a regular file", path);
    return -1;
  }
  if ((size_t)st.st_size > max_bytes) {
    if (err) snprintf(err, err_len, "cannot read %s: larger than %zu bytes", path, max_bytes);
    return -1;
  }
  FILE* f = fopen(path, "rb");
  char* buf = f ? malloc((size_t)st.st_size + 1) : NULL;
  size_t got = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
  int failed = !f || !buf || ferror(f);
  if (err && failed) snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
  if (f) fclose(f);
  if (failed) {
    free(buf);
    return -1;
  }
  buf[got] = '\0';
  *text = buf;
  *len = got;
  return 0;
}

size_t sluice_lua_sandbox_memory_used(const sluice_lua_sandbox* sb) { return sb->used; }
size_t sluice_lua_sandbox_memory_cap(const sluice_lua_sandbox* sb) { return sb->cap; }
uint64_t sluice_lua_sandbox_instructions(const sluice_lua_sandbox* sb) { return sb->spent; }
