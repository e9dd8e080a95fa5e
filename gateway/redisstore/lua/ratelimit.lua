-- Rate limit, a token bucket per subscriber (common.lua). P is the
-- store's own tag "{prefix}" here. ARGV: subscriber, rate per second,
-- burst, n, caller's now ms, clock mode, op ('take' or 'return'). Returns
-- {took, wait ms}: how many tokens were taken (or returned), and when
-- took < n, how long until the next token.
local sub, rate, burst, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now, op = clockNow(ARGV[6], ARGV[5]), ARGV[7]
local key = bucketKey(P, sub)
local tokens, at = bucketRead(key, rate, burst, now)
local took, wait = n, 0
if op == 'return' then
  tokens = math.min(burst, tokens + n)
else
  took = math.min(n, math.floor(tokens))
  tokens = tokens - took
  if took < n then wait = bucketWait(tokens, rate) end
end
bucketWrite(key, tokens, at, rate, burst)
return {took, wait}
