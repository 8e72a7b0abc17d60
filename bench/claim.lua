-- bench/claim.lua: wrk script for POST /v1/queues/line-1/claim (agent token,
-- no body, no long-poll wait).  200 = a ticket was claimed, 204 = the queue
-- was empty; run.sh tells them apart by counting the tickets acknowledged in
-- the database.
local token = os.getenv("BENCH_TOKEN")
if not token then error("bench/claim.lua: BENCH_TOKEN is not set") end

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token

-- latency per request, the BENCH line for run.sh
dofile(os.getenv("BENCH_DIR") .. "/wrk-common.lua")
