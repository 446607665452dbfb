-- wrk has no request-rate option: each connection waits PACE_MS between requests, so
-- C connections make at most C * 1000 / PACE_MS requests per second.
-- TOKEN (optional) is sent as a bearer token.
local pace = tonumber(os.getenv("PACE_MS") or "0")
local token = os.getenv("TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

function delay()
  return pace
end
