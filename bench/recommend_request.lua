-- wrk script of bench/recommend.sh: GET /api/v1/recommend/apps/$APP/users/<user>/recommendations?n=$N
-- for the users of USERS_FILE (one id a line) in turn, each thread from its own place in the list;
-- "Authorization: Bearer $TOKEN"; with ALGORITHM set, &algorithm=$ALGORITHM (else the app's own).
-- Prints bench/wrk_report.lua's line.
-- RATE > 0 (requests/s over all THREADS threads, which must be wrk's -t): each thread sends at a
-- constant rate, as wrk2 does (Debian has no wrk2): before each request a connection waits for
-- the thread's next free slot on a fixed schedule (slot k at start + k·THREADS/RATE), so a slow
-- answer does not delay the requests after it while the thread has idle connections. Unlike
-- wrk2, latency is measured from the moment a request is written, not from its slot; the
-- requests written more than 1 ms after their slot (every connection was busy) are counted and
-- printed after the WRK line as
--   PACE rate=R late=L mean_late_ms=M worst_late_ms=W
-- (M: the mean of those L requests' lateness), so a run that could not keep to the schedule shows
-- it, and by how much wrk2's latency (counted from the slot) would exceed this one.
-- RATE = 0: as fast as the connections go.
local token = os.getenv("TOKEN")
local app = os.getenv("APP")
local n = os.getenv("N") or "10"
local algorithm = os.getenv("ALGORITHM") or ""
if algorithm ~= "" then n = n .. "&algorithm=" .. algorithm end
local rate = tonumber(os.getenv("RATE") or "0")
local nthreads = tonumber(os.getenv("THREADS") or "1")
local users = {}
for line in io.lines(os.getenv("USERS_FILE")) do users[#users + 1] = line end

local threads = {}
local thread_id = 0
function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
  threads[#threads + 1] = thread
end

local counter = 0
function init(args)
  wrk.headers["Authorization"] = "Bearer " .. token
  counter = math.floor(tid * #users / nthreads)
end

function request()
  counter = counter + 1
  local user = users[counter % #users + 1]
  return wrk.format("GET", "/api/v1/recommend/apps/" .. app .. "/users/" .. user .. "/recommendations?n=" .. n)
end

if rate > 0 then
  -- wrk's Lua is LuaJIT: a monotonic clock in milliseconds through the FFI.
  local ffi = require("ffi")
  ffi.cdef [[
    struct bench_timespec { long tv_sec; long tv_nsec; };
    int clock_gettime(int clock, struct bench_timespec *ts);
  ]]
  local ts = ffi.new("struct bench_timespec")
  local function now_ms()
    ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
  local interval = nthreads * 1000 / rate
  local slot = nil
  late = 0
  late_ms = 0
  worst_late = 0
  function delay()
    local now = now_ms()
    if slot == nil then slot = now end
    slot = slot + interval
    local wait = slot - now
    if wait < -1 then
      late = late + 1
      late_ms = late_ms - wait
      if -wait > worst_late then worst_late = -wait end
    end
    if wait <= 0 then return 0 end
    return math.floor(wait + 0.5)
  end
end

dofile("bench/wrk_report.lua")
local report = done
function done(summary, latency, requests)
  report(summary, latency, requests)
  if rate > 0 then
    local l, ms, w = 0, 0, 0
    for _, t in ipairs(threads) do
      l = l + (t:get("late") or 0)
      ms = ms + (t:get("late_ms") or 0)
      w = math.max(w, t:get("worst_late") or 0)
    end
    io.write(string.format("PACE rate=%d late=%d mean_late_ms=%.1f worst_late_ms=%.1f\n", rate, l, l > 0 and ms / l or 0, w))
  end
end
