/*
 * Between the sandbox and its string-pattern functions; not installed.
 */
#ifndef SLUICE_LUA_SANDBOX_INTERNAL_H
#define SLUICE_LUA_SANDBOX_INTERNAL_H

#include <lua.h>
#include <stdint.h>

/* Instructions the running call may still spend (UINT64_MAX: no budget). */
uint64_t sluice_lua_budget_left(lua_State* L);
/* Charges `n` instructions of work done in C to the running call. */
void sluice_lua_budget_spend(lua_State* L, uint64_t n);
/* The call ran out while in C: records where (the calling Lua line) and
 * raises the budget error. Does not return. */
int sluice_lua_budget_exhausted(lua_State* L);

/* Replaces string.find, match, gmatch and gsub in the string table at the
 * top of the stack with versions whose matching work counts against the
 * budget (the stock matcher can backtrack for hours on a long subject). */
void sluice_lua_open_patterns(lua_State* L);

#endif /* SLUICE_LUA_SANDBOX_INTERNAL_H */
