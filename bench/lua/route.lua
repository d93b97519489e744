-- GET /internal/v1/route/{number}: what Kamailio asks per call, a new Call-ID each time.
request = function()
  local i, e164, key = pick()
  sequence = sequence + 1
  return wrk.format("GET", "/internal/v1/route/" .. e164 .. "?call_id=bench-" .. id ..
    "-" .. sequence .. "-" .. math.random(0, 1000000000) .. "&caller=%2B33140000001")
end
