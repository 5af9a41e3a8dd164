/*
 * sluice/lua_sandbox.h — a sandboxed Lua 5.4 state for policies and guardrails.
 *
 * Pure C, linked as a static library (Sluice::lua_sandbox) by the kernel and
 * by plugins that run user scripts. A sandbox is one lua_State with:
 *
 *   - a memory cap: its allocator refuses to grow the state past
 *     `memory_bytes`, so a script that builds a huge string or table gets a
 *     Lua memory error instead of taking the process down;
 *   - an instruction budget per call: a count hook stops a call after
 *     `instruction_budget` VM instructions, including those run in
 *     coroutines, and keeps failing until the call unwinds, so `pcall`
 *     inside the script cannot swallow it;
 *   - only safe libraries: base (without dofile, loadfile, print,
 *     collectgarbage and warn; `load` takes source text only; setmetatable
 *     refuses __gc, whose finalizers would run outside the budget), string
 *     (without string.dump), table, math, utf8 and coroutine. No io, os,
 *     package/require or debug. Binary chunks are never loaded.
 *
 * One sandbox belongs to one thread at a time. Every function that runs Lua
 * code runs it protected: errors, budget and memory exhaustion come back as
 * a status and a message, and the sandbox stays usable for the next call.
 */
#ifndef SLUICE_LUA_SANDBOX_H
#define SLUICE_LUA_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include <lua.h>

typedef struct sluice_lua_sandbox sluice_lua_sandbox;

typedef struct sluice_lua_limits {
  size_t memory_bytes;         /* the state's total allocation cap; 0 = none */
  uint64_t instruction_budget; /* VM instructions per call; 0 = none */
} sluice_lua_limits;

typedef enum sluice_lua_status {
  SLUICE_LUA_OK = 0,
  SLUICE_LUA_ERR_SYNTAX = 1, /* the source does not compile */
  SLUICE_LUA_ERR_RUN = 2,    /* a runtime error raised by the script or a library */
  SLUICE_LUA_ERR_BUDGET = 3, /* the call ran out of its instruction budget */
  SLUICE_LUA_ERR_MEMORY = 4  /* the state reached its memory cap */
} sluice_lua_status;

/* A fresh sandbox, or NULL with a reason in err (the cap is too small for the
 * libraries themselves, or the process is out of memory). */
sluice_lua_sandbox* sluice_lua_sandbox_new(const sluice_lua_limits* limits, char* err,
                                           size_t err_len);
void sluice_lua_sandbox_free(sluice_lua_sandbox* sb);

/* The state, for pushing arguments and reading results. Raising errors from
 * C code is fine inside sluice_lua_sandbox_call/pcall; outside them, only
 * use API functions that cannot raise (or wrap the work in _call). */
lua_State* sluice_lua_sandbox_state(sluice_lua_sandbox* sb);

/* Compiles `source` (text only: a binary chunk is refused) and pushes the
 * chunk's function. `chunkname` names it in messages ("policy.lua:3: ...");
 * a leading '@' is added. On failure pushes nothing and writes
 * "chunkname:line: reason" to err. */
sluice_lua_status sluice_lua_sandbox_load(sluice_lua_sandbox* sb, const char* source, size_t len,
                                          const char* chunkname, char* err, size_t err_len);

/* Compiles `source` as above and runs its top level (defining its
 * functions) under one call's budget. On failure writes the reason to err,
 * with " (while running the script's top level)" for a runtime failure. */
sluice_lua_status sluice_lua_sandbox_run(sluice_lua_sandbox* sb, const char* source, size_t len,
                                         const char* chunkname, char* err, size_t err_len);

/* lua_pcall with this call's instruction budget armed. On success leaves
 * `nresults` results (LUA_MULTRET: all); on failure pops the function and
 * its arguments, writes the reason to err and pushes nothing. */
sluice_lua_status sluice_lua_sandbox_pcall(sluice_lua_sandbox* sb, int nargs, int nresults,
                                           char* err, size_t err_len);

/* Runs fn(L) protected under this call's budget, with `ud` as its only
 * argument (a light userdata at index 1); fn's results are dropped. Use it
 * for glue code that pushes tables and calls script functions: a Lua error
 * anywhere inside (the script's, fn's own, or running out of memory) comes
 * back here as a status. fn runs between C frames that longjmp: in C++,
 * keep no object with a destructor alive across a Lua API call that may
 * raise. */
sluice_lua_status sluice_lua_sandbox_call(sluice_lua_sandbox* sb, lua_CFunction fn, void* ud,
                                          char* err, size_t err_len);

/* Reads the script file at `path` (a regular file of at most max_bytes)
 * into a buffer the caller frees with free(). Returns 0, or -1 with
 * "cannot read PATH: reason" in err. */
int sluice_lua_read_file(const char* path, size_t max_bytes, char** text, size_t* len, char* err,
                         size_t err_len);

/* Bytes the state holds now, and its cap (0 = none). */
size_t sluice_lua_sandbox_memory_used(const sluice_lua_sandbox* sb);
size_t sluice_lua_sandbox_memory_cap(const sluice_lua_sandbox* sb);
/* Instructions the last (or current) call has run, counted at the hook's
 * granularity (at most 1000 instructions, or the budget when smaller). */
uint64_t sluice_lua_sandbox_instructions(const sluice_lua_sandbox* sb);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_LUA_SANDBOX_H */
