-- POST /v1/vn/callforward, each number of this thread cycled through real changes
-- (every number starts off: bench/data.py resets them before each run).
local settings = {
  '"type": 1, "param": "' .. a .. '"', '"type": 1, "param": "' .. b .. '"',
  '"type": 2, "param": "' .. email .. '"', '"type": 0, "param": ""',
}
request = function()
  local i, e164, key = pick_own()
  local turn = (turns[i] or 0) % 4
  turns[i] = turn + 1
  local body = '{"apiKey": "' .. key .. '", "number": "' .. e164 .. '", ' ..
    settings[turn + 1] .. '}'
  return wrk.format("POST", "/v1/vn/callforward",
    {["Content-Type"] = "application/json"}, body)
end
