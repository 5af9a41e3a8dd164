/* A program outside the tree using the installed Lua sandbox: a script's
 * endless loop ends with the budget error, and io is not there. */
#include <sluice/lua_sandbox.h>
#include <stdio.h>
#include <string.h>

static int run(sluice_lua_sandbox* sb, const char* code) {
  char err[256] = {0};
  if (sluice_lua_sandbox_load(sb, code, strlen(code), "user.lua", err, sizeof err) ||
      sluice_lua_sandbox_pcall(sb, 0, 0, err, sizeof err)) {
    printf("%s\n", err);
    return 1;
  }
  printf("ok\n");
  return 0;
}

int main(void) {
  sluice_lua_limits limits = {1 << 20, 100000};
  char err[256];
  sluice_lua_sandbox* sb = sluice_lua_sandbox_new(&limits, err, sizeof err);
  if (!sb) {
    printf("%s\n", err);
    return 2;
  }
  run(sb, "while true do end");
  run(sb, "io.open('/etc/passwd')");
  run(sb, "local s = ('x'):rep(10) return #s");
  sluice_lua_sandbox_free(sb);
  return 0;
}
