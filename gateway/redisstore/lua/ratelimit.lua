-- Rate limit, a token bucket per subscriber under the store's own tag
-- (P is "{prefix}" here, not a partition's): every gateway sharing the
-- store draws from it. ARGV: subscriber, rate per second, burst, n,
-- caller's now ms, clock mode, op ('take' or 'return'). Returns {took,
-- wait ms}: how many tokens were taken (or returned), and when took < n,
-- how long until the next token.
--
-- The hash holds t (tokens, a decimal) and at (ms of the last refill, on
-- the store's clock). A missing bucket is full, which is also what an idle
-- one becomes: it expires once it would have refilled.
local sub, rate, burst, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now, op = clockNow(ARGV[6], ARGV[5]), ARGV[7]
local key = P .. ':rl:' .. sub
local v = redis.call('HMGET', key, 't', 'at')
local tokens, at = tonumber(v[1]), tonumber(v[2])
if not tokens or not at then tokens, at = burst, now end
if now > at then
  tokens = tokens + (now - at) * rate / 1000
  at = now
end
tokens = math.min(tokens, burst)
local took, wait = n, 0
if op == 'return' then
  tokens = math.min(burst, tokens + n)
else
  took = math.min(n, math.floor(tokens))
  tokens = tokens - took
  if took < n then wait = math.ceil((1 - (tokens - math.floor(tokens))) * 1000 / rate) end
end
redis.call('HSET', key, 't', string.format('%.6f', tokens), 'at', fmtms(at))
redis.call('PEXPIRE', key, math.max(60000, math.ceil(burst / rate * 1000) * 2))
return {took, wait}
