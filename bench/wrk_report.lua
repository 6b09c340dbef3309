-- Shared by the bench/*.lua wrk scripts (loaded with dofile, from the repository root): at the
-- end of a run one line for the calling script to read:
--   WRK requests=N errors=E non2xx=S rps=R p50_us=A p99_us=B
-- errors = socket errors and timeouts, non2xx = responses with a status >= 400 (wrk's
-- summary.errors.status); rps counts every response, so a row with errors must be failed.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%d errors=%d non2xx=%d rps=%.1f p50_us=%d p99_us=%d\n",
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status,
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99)))
end
