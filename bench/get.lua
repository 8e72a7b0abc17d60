-- bench/get.lua: wrk script for an authenticated GET (the URL given to wrk),
-- used by bench/hostile.sh as the normal client.
local token = os.getenv("BENCH_TOKEN")
if not token then error("bench/get.lua: BENCH_TOKEN is not set") end
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. token

-- latency per request, the BENCH line
dofile(os.getenv("BENCH_DIR") .. "/wrk-common.lua")
