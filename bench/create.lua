-- bench/create.lua: wrk script for POST /v1/tickets (frontdesk token).
-- The ticket comes from the environment (bench/run.sh sets it), so the daemon
-- and pgbench (bench/create.sql) insert exactly the same values.
local function env(k)
   local v = os.getenv(k)
   if not v then error("bench/create.lua: " .. k .. " is not set") end
   return v
end
local function js(s) -- a JSON string
   s = s:gsub('\\', '\\\\'):gsub('"', '\\"')
   return '"' .. s .. '"'
end

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. env("BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = "{" ..
   '"subject":' .. js(env("BENCH_SUBJECT")) .. "," ..
   '"description":' .. js(env("BENCH_DESCRIPTION")) .. "," ..
   '"severity":' .. js(env("BENCH_SEVERITY")) .. "," ..
   '"channel":' .. js(env("BENCH_CHANNEL")) .. "," ..
   '"category":' .. js(env("BENCH_CATEGORY")) .. "," ..
   '"customer":{' ..
      '"name":' .. js(env("BENCH_CUST_NAME")) .. "," ..
      '"phone":' .. js(env("BENCH_CUST_PHONE")) .. "," ..
      '"email":' .. js(env("BENCH_CUST_EMAIL")) .. "," ..
      '"id_number":' .. js(env("BENCH_CUST_ID")) ..
   "}}"

-- One machine-readable line for run.sh (latency in microseconds).
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d non2xx=%d sockerr=%d p50_us=%d p99_us=%d\n",
      summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
      latency:percentile(50), latency:percentile(99)))
end
