-- bench/wrk-common.lua: loaded by bench/create.lua and bench/claim.lua (after
-- they set wrk.method, wrk.headers and wrk.body).  It measures the latency of
-- every request itself and reports one machine-readable line for run.sh.
--
-- Why not wrk's own percentiles: wrk 4.x "corrects" its latency histogram for
-- coordinated omission before it prints it or hands it to done() -- for every
-- slow request it adds made-up samples at (latency - k * mean interval) -- so
-- its p99 is not a percentile of the requests that were made and cannot be
-- set beside pgbench's per-transaction log.  run.sh runs wrk with one thread
-- per connection (-t = -c), so each Lua thread state has exactly one request
-- in flight: the time from request() to response() is that request's latency.
-- The clock comes through LuaJIT's FFI: wrk must be built with LuaJIT (Debian's is).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *ts);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")
local function now_us()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
   return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

-- main state: remember the threads so that done() can collect their samples
local threads = {}
function setup(thread)
   threads[#threads + 1] = thread
end

-- thread states: one connection each
-- Globals, read by done() through thread:get().  overlaps counts request()
-- calls made while a request was in flight: at most one per run (wrk calls
-- request() once in thread 1 to check it), thousands when -t < -c.
latencies, overlaps = {}, 0
local req, started, inflight = nil, 0, false
function init(args)
   req = wrk.format()
end
function request()
   if inflight then overlaps = overlaps + 1 end
   inflight = true
   started = now_us()
   return req
end
function response(status, headers, body)
   latencies[#latencies + 1] = now_us() - started
   inflight = false
end

-- main state, after the run
function done(summary, latency, requests)
   local all, overlapped = {}, 0
   for _, t in ipairs(threads) do
      local l = t:get("latencies")
      for i = 1, #l do all[#all + 1] = l[i] end
      overlapped = overlapped + t:get("overlaps")
   end
   table.sort(all)
   local function pct(p) -- nearest rank, as run.sh does for pgbench
      if #all == 0 then return 0 end
      local i = math.ceil(#all * p / 100)
      if i < 1 then i = 1 end
      return all[i]
   end
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d non2xx=%d sockerr=%d p50_us=%d p99_us=%d samples=%d overlaps=%d\n",
      summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
      pct(50), pct(99), #all, overlapped))
   if overlapped > 1 then
      io.write("bench: several requests in flight per thread: the latencies are wrong; run wrk with -t equal to -c\n")
   end
end
