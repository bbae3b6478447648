-- wrk script of the HTTP benchmark: the request comes from the environment (so one script serves every
-- endpoint) and the result is one JSON line, read by benches/http/harness.py.
--   WRK_METHOD (GET), WRK_BODY, WRK_CONTENT_TYPE, WRK_TOKEN (sent as a bearer token),
--   WRK_BODIES: bodies separated by newlines, sent in turn (logins spread over several accounts)

wrk.method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
if body then
  wrk.body = body
end
local content_type = os.getenv("WRK_CONTENT_TYPE")
if content_type then
  wrk.headers["Content-Type"] = content_type
end
local token = os.getenv("WRK_TOKEN")
if token then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local bodies = os.getenv("WRK_BODIES")
if bodies then
  local list = {}
  for line in string.gmatch(bodies, "[^\n]+") do
    list[#list + 1] = line
  end
  local next_body = 0
  request = function()
    next_body = next_body % #list + 1
    return wrk.format(nil, nil, nil, list[next_body])
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"non_2xx":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
