-- GET /v1/vn/callforward: the read extension.
request = function()
  local i, e164, key = pick()
  return wrk.format("GET", "/v1/vn/callforward?number=" .. e164,
    {["X-Api-Key"] = key})
end
