-- wrk script: POST /api/v1/notifications/ with a unique request_id per request (or GET with "get",
-- or POST /api/v1/notifications/batch with "batch": that many items per request, each its own
-- request_id), and a JSON summary line at the end: requests, errors, latency percentiles in microseconds.
-- Arguments after "--": mode (get|post|batch), channel, template, comma-separated user ids, run prefix,
-- items per batch.
local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("thread_id", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "get"
  channel = args[2] or "email"
  template = args[3] or "bench-email"
  users = {}
  for user in string.gmatch(args[4] or "", "[^,]+") do table.insert(users, user) end
  prefix = (args[5] or "run") .. "-" .. thread_id
  batch_size = tonumber(args[6] or "100")
  counter = 0
  non2xx = 0
end

local function item()
  counter = counter + 1
  local user = users[(counter % #users) + 1]
  return string.format(
    '{"notification_type":"%s","user_id":"%s","template_code":"%s",' ..
    '"variables":{"name":"Ada","code":"%d","title":"Alert","message":"Disk %d%% full"},"request_id":"%s-%d"}',
    channel, user, template, counter, counter % 100, prefix, counter)
end

function request()
  if mode == "get" then
    return wrk.format("GET", "/health")
  end
  -- wrk.format replaces wrk.headers when given a table: carry the -H headers (the API key) over.
  local headers = {["Content-Type"] = "application/json"}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  if mode == "batch" then
    local items = {}
    for i = 1, batch_size do items[i] = item() end
    return wrk.format("POST", "/api/v1/notifications/batch", headers,
      '{"notifications":[' .. table.concat(items, ",") .. ']}')
  end
  return wrk.format("POST", "/api/v1/notifications/", headers, item())
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + (thread:get("non2xx") or 0) end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, bad, errors,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
