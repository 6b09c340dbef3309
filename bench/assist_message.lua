-- wrk script of bench/assist.sh: POST /api/v1/assist/bots/$BOT/messages with a new
-- conversation every CONVERSATION_TURNS requests of a connection and the texts of TEXTS_FILE
-- (one per line) in turn; "Authorization: Bearer $TOKEN". Prints bench/wrk_report.lua's line.
local token = os.getenv("TOKEN")
local bot = os.getenv("BOT")
local turns = tonumber(os.getenv("CONVERSATION_TURNS") or "5")
local texts = {}
for line in io.lines(os.getenv("TEXTS_FILE")) do texts[#texts + 1] = line end
local counter = 0
local thread_id = 0
function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  counter = counter + 1
  local text = texts[(counter * 7 + tid * 13) % #texts + 1]
  local conversation = string.format("w%d-%d", tid, math.floor(counter / turns))
  local clean = text:gsub('[\\"]', "")
  local body = string.format('{"conversation_id":"%s","text":"%s"}', conversation, clean)
  return wrk.format(nil, "/api/v1/assist/bots/" .. bot .. "/messages", nil, body)
end
dofile("bench/wrk_report.lua")
