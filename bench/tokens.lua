-- wrk script: every request carries the next token of a pre-minted pool
-- (one per line in the file named by the TOKENS environment variable), so
-- that no two requests in a row share a token. With BODY set, requests are
-- POSTs of that file's content.
local tokens = {}
local body = nil

local f = io.open(os.getenv("TOKENS") or "", "r")
if f then
    for line in f:lines() do tokens[#tokens + 1] = line end
    f:close()
end

local bf = os.getenv("BODY")
if bf and bf ~= "" then
    local b = io.open(bf, "r")
    body = b:read("*a")
    b:close()
end

local i = 0

request = function()
    local headers = {}
    if #tokens > 0 then
        i = i % #tokens + 1
        headers["Authorization"] = "Bearer " .. tokens[i]
    end
    if body then
        headers["Content-Type"] = "application/json"
        return wrk.format("POST", nil, headers, body)
    end
    return wrk.format("GET", nil, headers)
end
