-- One POST, read from files named by the environment (bench/run.sh sets them):
--   BENCH_BODY     request body file
--   BENCH_HEADERS  optional: "Name: value" per line ("Name:" or "Name;" = empty value)
--   BENCH_PATH     request path (default /)
--   BENCH_LABEL    name printed on the result line
-- done() prints one machine-readable line: RESULT label=… requests=… rps=… p50_us=… …
local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/"
wrk.body = slurp(assert(os.getenv("BENCH_BODY"), "BENCH_BODY not set"))
wrk.headers["Content-Type"] = "application/json"
local hfile = os.getenv("BENCH_HEADERS")
if hfile and hfile ~= "" then
  for line in slurp(hfile):gmatch("[^\r\n]+") do
    local name, value = line:match("^([^:;]+):%s*(.*)$")
    if not name then name, value = line:match("^([^:;]+);$"), "" end
    if name then wrk.headers[name] = value end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT label=%s requests=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d " ..
    "mean_us=%.1f err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    os.getenv("BENCH_LABEL") or "-", summary.requests, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
