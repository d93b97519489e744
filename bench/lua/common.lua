-- What every scenario shares: numbers picked at random, answers other than 200 counted,
-- and the figures printed as one JSON line (WRK_JSON) for bench/load.py to read. The
-- prelude bench/load.py writes before this defines keys, count, first, accounts, a, b, email.
local threads = {}
local thread_id = 0
setup = function(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end
init = function(args)
  math.randomseed(os.time() * 1000 + id)
  sequence = 0
  turns = {}
  refused = {}
end
-- Answers other than 200, by HTTP status and contract code (what a refusal was).
response = function(status, headers, body)
  if status ~= 200 then
    local what = status .. "/" .. (string.match(body, '"code":%s*(%d+)') or "-")
    refused[what] = (refused[what] or 0) + 1
  end
end
local function pick()
  local i = math.random(0, count - 1)
  return i, "+" .. string.format("%.0f", first + i), keys[(i % accounts) + 1]
end
-- Numbers of this thread only (wrk runs 2), so that each one's cycle of changes is real.
local function pick_own()
  local i = math.random(0, count / 2 - 1) * 2 + id
  return i, "+" .. string.format("%.0f", first + i), keys[(i % accounts) + 1]
end
done = function(summary, latency, requests)
  local errors = summary.errors
  local merged, answers = {}, {}
  for _, thread in ipairs(threads) do
    for what, n in pairs(thread:get("refused")) do
      merged[what] = (merged[what] or 0) + n
    end
  end
  for what, n in pairs(merged) do
    table.insert(answers, string.format("\"%s\": %d", what, n))
  end
  io.write(string.format(
    "WRK_JSON {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, " ..
    "\"p99_us\": %d, \"errors\": %d, \"refused\": {%s}}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.connect + errors.read + errors.write + errors.timeout, table.concat(answers, ", ")))
end
