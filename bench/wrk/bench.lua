-- wrk script for bench/run.sh. Environment:
--   BENCH_MODE     get | post | refresh
--   BENCH_AUTH     value of the Authorization header (optional)
--   BENCH_BODY     form body (post)
--   BENCH_TOKENS   refresh: file with one refresh token per line (split among wrk's threads)
--   BENCH_TOKENS_OUT  refresh: where to write the tokens left in the pools at the end
--   BENCH_DELAY_MS wait before each request on a connection (steady, lower rate; soak)
-- At the end one line "BENCH_RESULT {json}" on stdout: requests/s, p50/p99 latency (ms),
-- non-2xx answers (wrk counts status > 399) and socket errors.

local mode = os.getenv("BENCH_MODE") or "get"
local auth = os.getenv("BENCH_AUTH")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")

wrk.headers["Accept"] = "application/json"
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
if mode == "post" or mode == "refresh" then
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = os.getenv("BENCH_BODY") or ""
end

if delay_ms then
  function delay()
    return delay_ms
  end
end

-- The main state keeps the threads, to collect their counters and pools in done().
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  thread:set("nthreads", 0) -- fixed below, once every thread exists
  next_id = next_id + 1
  table.insert(threads, thread)
  for _, t in ipairs(threads) do
    t:set("nthreads", next_id)
  end
end

if mode == "refresh" then
  -- Each refresh token works once: a per-thread pool, popped per request and refilled with
  -- the rotated token from each answer.
  pool = {}
  empty = 0
  local loaded = false

  local function load()
    loaded = true
    local i = 0
    for line in io.lines(os.getenv("BENCH_TOKENS")) do
      if line ~= "" then
        if i % nthreads == id then
          table.insert(pool, line)
        end
        i = i + 1
      end
    end
  end

  function request()
    if not loaded then
      load()
    end
    local token = table.remove(pool)
    if token == nil then
      empty = empty + 1
      token = "pool-empty"
    end
    return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
  end

  function response(status, headers, body)
    if status == 200 then
      local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
      if token then
        table.insert(pool, token)
      end
    end
  end
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local left, empty_total = 0, 0
  if mode == "refresh" then
    local out = os.getenv("BENCH_TOKENS_OUT")
    local f = out and io.open(out, "w")
    for _, t in ipairs(threads) do
      local p = t:get("pool") or {}
      for _, token in ipairs(p) do
        left = left + 1
        if f then
          f:write(token, "\n")
        end
      end
      empty_total = empty_total + (t:get("empty") or 0)
    end
    if f then
      f:close()
    end
  end
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,' ..
    '"non2xx":%d,"socket_errors":%d,"pool_left":%d,"pool_empty":%d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout, left, empty_total))
end
