-- wrk script: every request carries the next token from $BENCH_TOKENS (one JWT a line),
-- round-robin. With more tokens than the proxy's token cache holds, every request is a
-- cache miss and its signature is verified (the "cold tokens" scenario); with one token per
-- organization it spreads the load over every binding (the "10,000 organizations" scenario).
--
-- The requests are formatted once, in init(): request() only hands out the next string, so
-- the load generator (on the CPU it shares with the upstream) spends as little as possible
-- per request. wrk.format merges wrk.headers (Host, and any -H given on the command line).
local requests = {}
local n = 0
local i = 0

function init(args)
  local path = os.getenv("BENCH_TOKENS")
  for line in io.lines(path) do
    if #line > 0 then
      n = n + 1
      requests[n] = wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. line })
    end
  end
  if n == 0 then error("no tokens in " .. path) end
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return requests[i]
end
