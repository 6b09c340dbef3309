-- wrk script of bench/serving.sh: POSTs one fixed OIP v2 JSON infer request (the file named by
-- BODY_FILE) with "Authorization: Bearer $TOKEN", and at the end prints one line for the script:
--   WRK requests=N errors=E non2xx=S rps=R p50_us=A p99_us=B
-- errors = socket errors and timeouts, non2xx = responses with a status >= 400 (wrk's
-- summary.errors.status); rps counts every response, so a row with errors must be failed.
--   BODY_FILE=cnn.json TOKEN=… wrk -t2 -c8 -d10s -s bench/serving_json.lua URL
local function slurp(path)
  local f = assert(io.open(assert(path, "BODY_FILE is not set"), "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

wrk.method = "POST"
wrk.body = slurp(os.getenv("BODY_FILE"))
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("TOKEN"), "TOKEN is not set")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%d errors=%d non2xx=%d rps=%.1f p50_us=%d p99_us=%d\n",
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status,
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99)))
end
