-- wrk script of bench/serving.sh: POSTs one fixed OIP v2 request in the binary-tensor extension
-- (the file named by BODY_FILE: a JSON header of HEADER_LEN bytes, then the raw tensor bytes;
-- the output is asked for as binary too) with "Authorization: Bearer $TOKEN". wrk's LuaJIT has
-- no string.pack, so bench/serving_model.py writes the body and its header length beforehand.
-- At the end it prints one line for the script (see serving_json.lua):
--   WRK requests=N errors=E non2xx=S rps=R p50_us=A p99_us=B
--   BODY_FILE=cnn.bin HEADER_LEN=169 TOKEN=… wrk -t2 -c8 -d10s -s bench/serving_binary.lua URL
local function slurp(path)
  local f = assert(io.open(assert(path, "BODY_FILE is not set"), "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

wrk.method = "POST"
wrk.body = slurp(os.getenv("BODY_FILE"))
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = assert(os.getenv("HEADER_LEN"), "HEADER_LEN is not set")
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("TOKEN"), "TOKEN is not set")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%d errors=%d non2xx=%d rps=%.1f p50_us=%d p99_us=%d\n",
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status,
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99)))
end
