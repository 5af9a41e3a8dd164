// The Lua scripts the Redis store runs server-side. A script runs atomically,
// so a reservation's reads, decision and writes can never interleave with
// another replica's. Redis Lua numbers are doubles: exact up to 2^53.
#pragma once

namespace sluice::governance::redis_scripts {

// One loop turn's work in one script run: the settlements nobody waits on,
// then the reservations, each all-or-nothing on its own, in order. Every key
// is read or written in Redis at most twice per run however many
// reservations touch it: the first use increments it (or GETs it, for a key
// only weighed), later uses are counted here, and what is left over is
// written with one INCRBY per key at the end. The run is atomic, so no other
// client can see the difference.
// KEYS: the run's distinct counters.
// ARGV: s, then per settlement: key index, delta, ttl_s;
//       c, then per check shape: key index, other key index (0: none),
//       weight_ppm, limit, enforce (1/0), ttl_s;
//       then per reservation: n, then per check: shape index, amount.
// Returns one flat array: per reservation refused, then before_1..before_n;
// refused is the 1-based index of the first enforced check over its limit, 0
// when admitted (then every key got its amount). A key's expiry (ttl_s > 0)
// is set when an increment made it, i.e. its value is now the increment:
// every counter key is made by these scripts, so one EXPIRE per key and
// window is enough.
// Numbers go back to Redis through %d: its own number formatting may write
// large ones with an exponent. Arguments repeat (shape indexes, amounts), so
// each distinct one is converted once: tonumber is strtod.
inline constexpr const char* kBatch = R"lua(
local floor, tonumber, format = math.floor, tonumber, string.format
local num = setmetatable({}, {__index = function(t, s)
  local v = tonumber(s)
  t[s] = v
  return v
end})
local function weighted(value, ppm)
  if ppm == 1000000 then return value end
  if ppm == 0 then return 0 end
  local q = floor(value / 1000000)
  local r = value - q * 1000000
  if r < 0 then q = q - 1; r = r + 1000000 elseif r >= 1000000 then q = q + 1; r = r - 1000000 end
  return q * ppm + floor(r * ppm / 1000000)
end
local val, pend, ttl = {}, {}, {}
local function keep(i, t)
  if not ttl[i] or t > ttl[i] then ttl[i] = t end
end
local function write(i)
  local d = pend[i]
  pend[i] = 0
  local v = redis.call('INCRBY', KEYS[i], format('%d', d))
  if v == d and ttl[i] > 0 then redis.call('EXPIRE', KEYS[i], format('%d', ttl[i])) end
  return v
end
local function value(i)
  local v = val[i]
  if not v then
    v = tonumber(redis.call('GET', KEYS[i]) or '0') + (pend[i] or 0)
    val[i] = v
  end
  return v
end
local a = 1
for s = 1, num[ARGV[1]] do
  local i, d = num[ARGV[a + 1]], num[ARGV[a + 2]]
  pend[i] = (pend[i] or 0) + d
  keep(i, num[ARGV[a + 3]])
  a = a + 3
end
a = a + 1
local shapes = {}
for c = 1, num[ARGV[a]] do
  local b = a + (c - 1) * 6
  local shape = {num[ARGV[b + 1]], num[ARGV[b + 2]], num[ARGV[b + 3]], num[ARGV[b + 4]],
                 ARGV[b + 5] == '1'}
  keep(shape[1], num[ARGV[b + 6]])
  shapes[c] = shape
end
a = a + 6 * #shapes + 1
local out, o, last = {}, 0, #ARGV
while a <= last do
  local n = num[ARGV[a]]
  local refused = 0
  out[o + 1] = 0
  for i = 1, n do
    local c = shapes[num[ARGV[a + 2 * i - 1]]]
    local amount = num[ARGV[a + 2 * i]]
    local k = c[1]
    local p = (pend[k] or 0) + amount
    pend[k] = p
    local v = val[k]
    if v then
      v = v + amount
      val[k] = v
    elseif p ~= 0 then
      v = write(k)
      val[k] = v
    else
      v = value(k)
    end
    local before = v - amount
    if c[3] > 0 then before = before + weighted(value(c[2]), c[3]) end
    out[o + 1 + i] = before
    if refused == 0 and c[5] and before + amount > c[4] then refused = i end
  end
  out[o + 1] = refused
  if refused ~= 0 then
    for i = 1, n do
      local k = shapes[num[ARGV[a + 2 * i - 1]]][1]
      local amount = num[ARGV[a + 2 * i]]
      pend[k] = pend[k] - amount
      val[k] = val[k] - amount
    end
  end
  o = o + 1 + n
  a = a + 1 + 2 * n
end
for i = 1, #KEYS do
  if pend[i] and pend[i] ~= 0 then write(i) end
end
return out
)lua";

// KEYS: the counters. ARGV: per key, delta and ttl_s (set when the increment
// made the key, as above). Returns the new values.
inline constexpr const char* kAdjust = R"lua(
local values = {}
for i = 1, #KEYS do
  values[i] = redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
  if values[i] == tonumber(ARGV[2 * i - 1]) and tonumber(ARGV[2 * i]) > 0 then
    redis.call('EXPIRE', KEYS[i], ARGV[2 * i])
  end
end
return values
)lua";

}  // namespace sluice::governance::redis_scripts
