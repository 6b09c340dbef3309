-- wrk script of bench/gateway.sh: GET with an optional "Authorization: Bearer $TOKEN", paced
-- when DELAY_MS is set (each connection waits that long between its requests: the load of
-- bench/gateway.sh's "half of peak" rows). At the end one line for the script:
--   WRK requests=N errors=E non2xx=S rps=R p50_us=A p99_us=B
local token = os.getenv("TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
local delay_ms = tonumber(os.getenv("DELAY_MS") or "")
if delay_ms and delay_ms > 0 then
  function delay() return delay_ms end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%d errors=%d non2xx=%d rps=%.1f p50_us=%d p99_us=%d\n",
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status,
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99)))
end
