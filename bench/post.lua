-- wrk script: POSTs a chat completion body (bench/chat-1k.json unless
-- BENCH_BODY names another file) and ends with one machine-readable line that
-- bench/run.sh parses. Non-2xx answers are counted, so a failing target
-- cannot pass for a fast one.
local path = os.getenv("BENCH_BODY") or "bench/chat-1k.json"
local file = assert(io.open(path, "rb"), "cannot open " .. path)
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d seconds=%.3f rps=%.1f p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
