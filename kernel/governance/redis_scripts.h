// The Lua scripts the Redis store runs server-side. A script runs atomically,
// so a reservation's reads, decision and writes can never interleave with
// another replica's. Redis Lua numbers are doubles: exact up to 2^53.
#pragma once

namespace sluice::governance::redis_scripts {

// Reservations, one or many (those a loop gathered in one turn), each one
// all-or-nothing on its own, in order. Each check's key is incremented first
// and the whole reservation taken back when one check refuses: refusals are
// rare, so an admitted reservation costs one call per check, not a read and
// a write.
// KEYS: per reservation, per check: its key and its other key (the key again
// when it has none).
// ARGV: the number of reservations; then per reservation its number of checks
// n, then per check weight_ppm, limit, amount, enforce (1/0), ttl_s.
// Returns, per reservation, {refused, before_1, ..., before_n}; refused is the
// 1-based index of the first enforced check over its limit, 0 when admitted
// (then every key got its amount). A key's expiry (ttl_s > 0) is set when the
// increment made it, i.e. its value is now the amount: every counter key is
// made by these scripts, so one EXPIRE per key and window is enough, and a
// key at 0 that gets it again keeps the same window end.
inline constexpr const char* kReserve = R"lua(
local function weighted(value, ppm)
  if ppm == 0 then return 0 end
  local q = math.floor(value / 1000000)
  local r = value - q * 1000000
  if r < 0 then q = q - 1; r = r + 1000000 elseif r >= 1000000 then q = q + 1; r = r - 1000000 end
  return q * ppm + math.floor(r * ppm / 1000000)
end
local out = {}
local k, a = 0, 1
for g = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a + 1])
  a = a + 1
  local result = {0}
  for i = 1, n do
    local b = a + (i - 1) * 5
    local amount = tonumber(ARGV[b + 3])
    local now = redis.call('INCRBY', KEYS[k + 2 * i - 1], ARGV[b + 3])
    if now == amount and tonumber(ARGV[b + 5]) > 0 then
      redis.call('EXPIRE', KEYS[k + 2 * i - 1], ARGV[b + 5])
    end
    local before = now - amount
    local ppm = tonumber(ARGV[b + 1])
    if ppm > 0 then
      before = before + weighted(tonumber(redis.call('GET', KEYS[k + 2 * i]) or '0'), ppm)
    end
    result[i + 1] = before
    if result[1] == 0 and ARGV[b + 4] == '1' and before + amount > tonumber(ARGV[b + 2]) then
      result[1] = i
    end
  end
  if result[1] ~= 0 then
    for i = 1, n do
      redis.call('DECRBY', KEYS[k + 2 * i - 1], ARGV[a + (i - 1) * 5 + 3])
    end
  end
  out[g] = result
  k = k + 2 * n
  a = a + 5 * n
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
