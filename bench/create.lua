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
      '"id_number":' .. js(env("BENCH_CUST_ID")) .. "," ..
      '"bank_card":' .. js(env("BENCH_CUST_CARD")) ..
   "}}"

-- latency per request, the BENCH line for run.sh
dofile(os.getenv("BENCH_DIR") .. "/wrk-common.lua")
