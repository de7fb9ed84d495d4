-- wrk script: every request carries the next token from $BENCH_TOKENS (one JWT a line),
-- round-robin. With more tokens than the proxy's token cache holds, every request is a
-- cache miss and its signature is verified (the "cold tokens" scenario).
local tokens = {}
local i = 0

function init(args)
  local path = os.getenv("BENCH_TOKENS")
  for line in io.lines(path) do
    if #line > 0 then tokens[#tokens + 1] = "Bearer " .. line end
  end
  if #tokens == 0 then error("no tokens in " .. path) end
end

function request()
  i = i % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = tokens[i] })
end
