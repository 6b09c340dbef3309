-- wrk script of bench/serving.sh: POSTs one fixed OIP v2 infer request, the file named by
-- BODY_FILE, with "Authorization: Bearer $TOKEN". With HEADER_LEN set the body is in the
-- binary-tensor extension (a JSON header of HEADER_LEN bytes, then the raw tensor bytes;
-- wrk's LuaJIT has no string.pack, so bench/serving_model.py writes the body beforehand);
-- without it the body is JSON. At the end it prints the WRK line of bench/wrk_report.lua.
--   BODY_FILE=cnn.json TOKEN=… wrk -t2 -c8 -d10s -s bench/serving_request.lua URL
--   BODY_FILE=cnn.bin HEADER_LEN=169 TOKEN=… wrk -t2 -c8 -d10s -s bench/serving_request.lua URL
local function slurp(path)
  local f = assert(io.open(assert(path, "BODY_FILE is not set"), "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

wrk.method = "POST"
wrk.body = slurp(os.getenv("BODY_FILE"))
local header_len = os.getenv("HEADER_LEN")
if header_len and header_len ~= "" then
  wrk.headers["Content-Type"] = "application/octet-stream"
  wrk.headers["Inference-Header-Content-Length"] = header_len
else
  wrk.headers["Content-Type"] = "application/json"
end
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("TOKEN"), "TOKEN is not set")

dofile("bench/wrk_report.lua")
