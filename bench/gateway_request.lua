-- wrk script of bench/gateway.sh: GET with an optional "Authorization: Bearer $TOKEN", paced
-- when DELAY_MS is set (each connection waits that long between its requests: the load of
-- bench/gateway.sh's "half of peak" rows). At the end it prints the WRK line of
-- bench/wrk_report.lua.
local token = os.getenv("TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
local delay_ms = tonumber(os.getenv("DELAY_MS") or "")
if delay_ms and delay_ms > 0 then
  function delay() return delay_ms end
end

dofile("bench/wrk_report.lua")
