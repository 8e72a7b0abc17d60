-- bench/claim.lua: wrk script for POST /v1/queues/line-1/claim (agent token,
-- no body, no long-poll wait).  200 = a ticket was claimed, 204 = the queue
-- was empty; run.sh tells them apart by counting the tickets acknowledged in
-- the database, so this script adds no per-response Lua work.
local token = os.getenv("BENCH_TOKEN")
if not token then error("bench/claim.lua: BENCH_TOKEN is not set") end

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d non2xx=%d sockerr=%d p50_us=%d p99_us=%d\n",
      summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
      latency:percentile(50), latency:percentile(99)))
end
