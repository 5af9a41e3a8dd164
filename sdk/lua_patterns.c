/*
 * string.find, string.match, string.gmatch and string.gsub for the sandbox.
 *
 * Lua patterns backtrack: `("a"):rep(1e5):find("%w+@")` takes minutes in the
 * stock library, and no instruction hook can interrupt a C function. These
 * versions implement the same pattern language (Lua 5.4 manual §6.4.1) and
 * the same results, but every character test and every matching step costs
 * one instruction of the running call's budget, so a runaway pattern ends
 * with the budget error like a runaway loop.
 */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <lauxlib.h>
#include <string.h>

#include "lua_sandbox_internal.h"

#define ESC '%'
#define SPECIALS "^$*+?.([%-"
#define MAX_DEPTH 200   /* nested matching calls, as in the stock library */
#define MAX_CAPTURES 32 /* as MAX_CAPTURES in the stock library */
#define CAP_UNFINISHED (-1)
#define CAP_POSITION (-2)

typedef struct Matcher {
  const char* src_init;
  const char* src_end;
  const char* p_end;
  lua_State* L;
  uint64_t left; /* budget left for this call's matching */
  int depth;     /* matching calls still allowed on the C stack */
  int level;     /* captures opened so far */
  struct {
    const char* init;
    ptrdiff_t len; /* or CAP_UNFINISHED / CAP_POSITION */
  } capture[MAX_CAPTURES];
} Matcher;

static void charge(Matcher* m, uint64_t n) {
  if (m->left <= n) {
    m->left = 0;
    sluice_lua_budget_exhausted(m->L);
  }
  m->left -= n;
}

static void begin(Matcher* m, lua_State* L, const char* s, size_t ls, const char* p, size_t lp) {
  m->L = L;
  m->src_init = s;
  m->src_end = s + ls;
  m->p_end = p + lp;
  m->left = sluice_lua_budget_left(L);
}

/* Hands what the matching used over to the call's count. */
static void settle(Matcher* m, uint64_t started_with) {
  if (started_with != UINT64_MAX) sluice_lua_budget_spend(m->L, started_with - m->left);
}

/* ------------------------------------------------------------------------ */
/* Single characters and classes. */

static int class_matches(int c, int cl) {
  int res;
  switch (tolower(cl)) {
    case 'a': res = isalpha(c); break;
    case 'c': res = iscntrl(c); break;
    case 'd': res = isdigit(c); break;
    case 'g': res = isgraph(c); break;
    case 'l': res = islower(c); break;
    case 'p': res = ispunct(c); break;
    case 's': res = isspace(c); break;
    case 'u': res = isupper(c); break;
    case 'w': res = isalnum(c); break;
    case 'x': res = isxdigit(c); break;
    case 'z': res = c == 0; break; /* deprecated, still accepted by 5.4 */
    default: return cl == c;       /* %. is a literal character */
  }
  if (isupper(cl)) res = !res; /* %A is the complement of %a */
  return res;
}

/* c against the set [...] from `p` (at '[') to `end` (at its ']'). */
static int set_matches(int c, const char* p, const char* end) {
  int found = 1;
  if (*(p + 1) == '^') {
    found = 0;
    p++;
  }
  while (++p < end) {
    if (*p == ESC) {
      p++;
      if (class_matches(c, (unsigned char)*p)) return found;
    } else if (*(p + 1) == '-' && p + 2 < end) {
      p += 2;
      if ((unsigned char)*(p - 2) <= c && c <= (unsigned char)*p) return found;
    } else if ((unsigned char)*p == c) {
      return found;
    }
  }
  return !found;
}

/* The end of the single-character class starting at p. */
static const char* class_end(Matcher* m, const char* p) {
  char c = *p++;
  if (c == ESC) {
    if (p == m->p_end) luaL_error(m->L, "malformed pattern (ends with '%%')");
    return p + 1;
  }
  if (c == '[') {
    if (p < m->p_end && *p == '^') p++;
    do { /* the first character is in the set even when it is ']' */
      if (p == m->p_end) luaL_error(m->L, "malformed pattern (missing ']')");
      c = *p++;
      if (c == ESC && p < m->p_end) p++;
    } while (p == m->p_end || *p != ']');
    return p + 1;
  }
  return p;
}

static int single_matches(Matcher* m, const char* s, const char* p, const char* ep) {
  charge(m, 1);
  if (s >= m->src_end) return 0;
  int c = (unsigned char)*s;
  switch (*p) {
    case '.': return 1;
    case ESC: return class_matches(c, (unsigned char)*(p + 1));
    case '[': return set_matches(c, p, ep - 1);
    default: return (unsigned char)*p == c;
  }
}

/* ------------------------------------------------------------------------ */
/* Matching. */

static const char* match(Matcher* m, const char* s, const char* p);

static const char* match_balance(Matcher* m, const char* s, const char* p) {
  if (p >= m->p_end - 1) luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
  if (s >= m->src_end || *s != *p) return NULL;
  char open = *p, close = *(p + 1);
  int depth = 1;
  while (++s < m->src_end) {
    charge(m, 1);
    if (*s == close) {
      if (--depth == 0) return s + 1;
    } else if (*s == open) {
      depth++;
    }
  }
  return NULL;
}

static const char* max_expand(Matcher* m, const char* s, const char* p, const char* ep) {
  ptrdiff_t i = 0;
  while (single_matches(m, s + i, p, ep)) i++;
  for (; i >= 0; i--) { /* the longest run first, then shorter ones */
    const char* res = match(m, s + i, ep + 1);
    if (res) return res;
  }
  return NULL;
}

static const char* min_expand(Matcher* m, const char* s, const char* p, const char* ep) {
  for (;;) {
    const char* res = match(m, s, ep + 1);
    if (res) return res;
    if (!single_matches(m, s, p, ep)) return NULL;
    s++;
  }
}

static const char* start_capture(Matcher* m, const char* s, const char* p, ptrdiff_t what) {
  if (m->level >= MAX_CAPTURES) luaL_error(m->L, "too many captures");
  m->capture[m->level].init = s;
  m->capture[m->level].len = what;
  m->level++;
  const char* res = match(m, s, p);
  if (!res) m->level--;
  return res;
}

static const char* end_capture(Matcher* m, const char* s, const char* p) {
  int l = m->level - 1;
  while (l >= 0 && m->capture[l].len != CAP_UNFINISHED) l--;
  if (l < 0) luaL_error(m->L, "invalid pattern capture");
  m->capture[l].len = s - m->capture[l].init;
  const char* res = match(m, s, p);
  if (!res) m->capture[l].len = CAP_UNFINISHED;
  return res;
}

static const char* match_capture(Matcher* m, const char* s, int digit) {
  int l = digit - '1';
  if (l < 0 || l >= m->level || m->capture[l].len == CAP_UNFINISHED) {
    luaL_error(m->L, "invalid capture index %%%d", l + 1);
  }
  ptrdiff_t len = m->capture[l].len;
  if (len < 0) return NULL; /* a position capture matches no text */
  charge(m, 1 + (uint64_t)len / 16);
  if (m->src_end - s >= len && memcmp(m->capture[l].init, s, (size_t)len) == 0) return s + len;
  return NULL;
}

/* The end of the match of p[...] at s, or NULL. */
static const char* match(Matcher* m, const char* s, const char* p) {
  if (m->depth-- == 0) luaL_error(m->L, "pattern too complex");
  charge(m, 1);
  while (p != m->p_end) {
    const char* ep;
    switch (*p) {
      case '(':
        if (p + 1 < m->p_end && *(p + 1) == ')') {
          s = start_capture(m, s, p + 2, CAP_POSITION);
        } else {
          s = start_capture(m, s, p + 1, CAP_UNFINISHED);
        }
        goto done;
      case ')': s = end_capture(m, s, p + 1); goto done;
      case '$':
        if (p + 1 != m->p_end) goto single; /* '$' inside a pattern is a character */
        if (s != m->src_end) s = NULL;
        goto done;
      case ESC:
        if (p + 1 < m->p_end) {
          char next = *(p + 1);
          if (next == 'b') {
            s = match_balance(m, s, p + 2);
            if (!s) goto done;
            p += 4;
            continue;
          }
          if (next == 'f') {
            p += 2;
            if (p >= m->p_end || *p != '[') luaL_error(m->L, "missing '[' after '%%f' in pattern");
            ep = class_end(m, p);
            int before = s == m->src_init ? '\0' : (unsigned char)*(s - 1);
            int at = s < m->src_end ? (unsigned char)*s : '\0';
            charge(m, 1);
            if (!set_matches(before, p, ep - 1) && set_matches(at, p, ep - 1)) {
              p = ep;
              continue;
            }
            s = NULL;
            goto done;
          }
          if (isdigit((unsigned char)next)) {
            s = match_capture(m, s, (unsigned char)next);
            if (!s) goto done;
            p += 2;
            continue;
          }
        }
        goto single;
      default:
      single:
        ep = class_end(m, p);
        char quantifier = ep < m->p_end ? *ep : '\0';
        if (!single_matches(m, s, p, ep)) {
          if (quantifier == '*' || quantifier == '?' || quantifier == '-') {
            p = ep + 1; /* zero repetitions are fine */
            continue;
          }
          s = NULL;
          goto done;
        }
        switch (quantifier) {
          case '?': {
            const char* res = match(m, s + 1, ep + 1);
            if (res) {
              s = res;
              goto done;
            }
            p = ep + 1;
            continue;
          }
          case '+': s = max_expand(m, s + 1, p, ep); goto done;
          case '*': s = max_expand(m, s, p, ep); goto done;
          case '-': s = min_expand(m, s, p, ep); goto done;
          default:
            s++;
            p = ep;
            continue;
        }
    }
  }
done:
  m->depth++;
  return s;
}

/* ------------------------------------------------------------------------ */
/* Captures onto the Lua stack. */

/* Capture i (0 with no captures: the whole match s..e). Returns its length,
 * or CAP_POSITION after pushing the position. */
static ptrdiff_t capture_text(Matcher* m, int i, const char* s, const char* e, const char** text) {
  if (i >= m->level) {
    if (i != 0) luaL_error(m->L, "invalid capture index %%%d", i + 1);
    *text = s;
    return e - s;
  }
  ptrdiff_t len = m->capture[i].len;
  *text = m->capture[i].init;
  if (len == CAP_UNFINISHED) luaL_error(m->L, "unfinished capture");
  if (len == CAP_POSITION) lua_pushinteger(m->L, (m->capture[i].init - m->src_init) + 1);
  return len;
}

static void push_capture(Matcher* m, int i, const char* s, const char* e) {
  const char* text;
  ptrdiff_t len = capture_text(m, i, s, e, &text);
  if (len != CAP_POSITION) lua_pushlstring(m->L, text, (size_t)len);
}

static int push_captures(Matcher* m, const char* s, const char* e) {
  int n = (m->level == 0 && s) ? 1 : m->level;
  luaL_checkstack(m->L, n, "too many captures");
  for (int i = 0; i < n; i++) push_capture(m, i, s, e);
  return n;
}

/* ------------------------------------------------------------------------ */
/* The library functions. */

/* A 1-based start position from a relative one (negative counts from the end). */
static size_t start_at(lua_Integer pos, size_t len) {
  if (pos > 0) return (size_t)pos;
  if (pos == 0) return 1;
  if (pos < -(lua_Integer)len) return 1;
  return len + (size_t)pos + 1;
}

static int has_specials(const char* p, size_t lp) {
  size_t at = 0;
  do { /* strpbrk stops at NUL: look at each NUL-separated piece */
    if (strpbrk(p + at, SPECIALS)) return 1;
    at += strlen(p + at) + 1;
  } while (at <= lp);
  return 0;
}

static void reset(Matcher* m) {
  m->level = 0;
  m->depth = MAX_DEPTH;
}

static int find_or_match(lua_State* L, int find) {
  size_t ls, lp;
  const char* s = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  size_t init = start_at(luaL_optinteger(L, 3, 1), ls);
  if (init > ls + 1) {
    luaL_pushfail(L);
    return 1;
  }
  if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
    /* A plain search: memmem is linear, nothing to charge beyond the scan. */
    const char* at = lp == 0 ? s + init - 1 : memmem(s + init - 1, ls - init + 1, p, lp);
    if (at) {
      lua_pushinteger(L, (at - s) + 1);
      lua_pushinteger(L, (at - s) + (lua_Integer)lp);
      return 2;
    }
    luaL_pushfail(L);
    return 1;
  }
  Matcher m;
  const char* from = s + init - 1;
  int anchor = lp > 0 && *p == '^';
  if (anchor) {
    p++;
    lp--;
  }
  begin(&m, L, s, ls, p, lp);
  uint64_t budget = m.left;
  do {
    reset(&m);
    const char* e = match(&m, from, p);
    if (e) {
      settle(&m, budget);
      if (find) {
        lua_pushinteger(L, (from - s) + 1);
        lua_pushinteger(L, e - s);
        return push_captures(&m, NULL, NULL) + 2;
      }
      return push_captures(&m, from, e);
    }
  } while (from++ < m.src_end && !anchor);
  settle(&m, budget);
  luaL_pushfail(L);
  return 1;
}

static int str_find(lua_State* L) { return find_or_match(L, 1); }
static int str_match(lua_State* L) { return find_or_match(L, 0); }

typedef struct GMatch {
  const char* src;       /* where the next search starts */
  const char* p;         /* the pattern */
  const char* lastmatch; /* end of the last match, never matched empty again */
  Matcher m;
} GMatch;

static int gmatch_next(lua_State* L) {
  GMatch* g = lua_touserdata(L, lua_upvalueindex(3));
  g->m.L = L; /* the iterator may be called from another coroutine */
  g->m.left = sluice_lua_budget_left(L);
  uint64_t budget = g->m.left;
  for (const char* src = g->src; src <= g->m.src_end; src++) {
    reset(&g->m);
    const char* e = match(&g->m, src, g->p);
    if (e && e != g->lastmatch) {
      g->src = g->lastmatch = e;
      settle(&g->m, budget);
      return push_captures(&g->m, src, e);
    }
  }
  settle(&g->m, budget);
  return 0;
}

static int str_gmatch(lua_State* L) {
  size_t ls, lp;
  const char* s = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  size_t init = start_at(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) init = ls + 1; /* past the end: no match */
  lua_settop(L, 2);             /* the string and pattern stay alive as upvalues */
  GMatch* g = lua_newuserdatauv(L, sizeof(GMatch), 0);
  begin(&g->m, L, s, ls, p, lp);
  g->src = s + init;
  g->p = p;
  g->lastmatch = NULL;
  lua_pushcclosure(L, gmatch_next, 3);
  return 1;
}

/* Appends the replacement string for the match s..e, expanding %0-%9 and %%. */
static void add_template(Matcher* m, luaL_Buffer* b, const char* s, const char* e) {
  lua_State* L = m->L;
  size_t l;
  const char* news = lua_tolstring(L, 3, &l);
  const char* esc;
  while ((esc = memchr(news, ESC, l)) != NULL) {
    luaL_addlstring(b, news, (size_t)(esc - news));
    esc++; /* the character after '%'; Lua strings end with a NUL */
    if (*esc == ESC) {
      luaL_addchar(b, *esc);
    } else if (*esc == '0') {
      luaL_addlstring(b, s, (size_t)(e - s));
    } else if (isdigit((unsigned char)*esc)) {
      const char* text;
      ptrdiff_t len = capture_text(m, *esc - '1', s, e, &text);
      if (len == CAP_POSITION) {
        luaL_addvalue(b);
      } else {
        luaL_addlstring(b, text, (size_t)len);
      }
    } else {
      luaL_error(L, "invalid use of '%c' in replacement string", ESC);
    }
    l -= (size_t)(esc + 1 - news);
    news = esc + 1;
  }
  luaL_addlstring(b, news, l);
}

/* Appends the replacement for the match s..e; returns 0 when the match is
 * kept as it was (a false or nil replacement value). */
static int add_replacement(Matcher* m, luaL_Buffer* b, const char* s, const char* e, int kind) {
  lua_State* L = m->L;
  switch (kind) {
    case LUA_TFUNCTION: {
      lua_pushvalue(L, 3);
      int n = push_captures(m, s, e);
      lua_call(L, n, 1);
      break;
    }
    case LUA_TTABLE:
      push_capture(m, 0, s, e);
      lua_gettable(L, 3);
      break;
    default: add_template(m, b, s, e); return 1;
  }
  if (!lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    luaL_addlstring(b, s, (size_t)(e - s));
    return 0;
  }
  if (!lua_isstring(L, -1)) {
    return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  }
  luaL_addvalue(b);
  return 1;
}

static int str_gsub(lua_State* L) {
  size_t ls, lp;
  const char* src = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  const char* lastmatch = NULL;
  int kind = lua_type(L, 3);
  lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
  int anchor = lp > 0 && *p == '^';
  lua_Integer n = 0;
  int changed = 0;
  luaL_argexpected(
      L, kind == LUA_TNUMBER || kind == LUA_TSTRING || kind == LUA_TFUNCTION || kind == LUA_TTABLE,
      3, "string/function/table");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (anchor) {
    p++;
    lp--;
  }
  Matcher m;
  begin(&m, L, src, ls, p, lp);
  uint64_t budget = m.left;
  /* A replacement function or table (__index) runs Lua, which spends from
   * the same budget: settle before it runs, take what is left after. */
  int runs_lua = kind == LUA_TFUNCTION || kind == LUA_TTABLE;
  while (n < max) {
    reset(&m);
    const char* e = match(&m, src, p);
    if (e && e != lastmatch) {
      n++;
      if (runs_lua) settle(&m, budget);
      changed = add_replacement(&m, &b, src, e, kind) | changed;
      if (runs_lua) budget = m.left = sluice_lua_budget_left(L);
      src = lastmatch = e;
    } else if (src < m.src_end) {
      luaL_addchar(&b, *src++);
    } else {
      break;
    }
    if (anchor) break;
  }
  settle(&m, budget);
  if (!changed) {
    lua_pushvalue(L, 1);
  } else {
    luaL_addlstring(&b, src, (size_t)(m.src_end - src));
    luaL_pushresult(&b);
  }
  lua_pushinteger(L, n);
  return 2;
}

void sluice_lua_open_patterns(lua_State* L) {
  static const luaL_Reg fns[] = {
      {"find", str_find}, {"match", str_match}, {"gmatch", str_gmatch},
      {"gsub", str_gsub}, {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
