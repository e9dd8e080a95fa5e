-- Claim leases due deliveries. ARGV: subscriber, now ms, max, lease end ms,
-- token prefix. Returns {id, attempts, created ms, body, token} per claim.
local sub, now, max, leaseEnd, tokp = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local q = due(sub)
local ids = redis.call('ZRANGEBYSCORE', q, '-inf', now, 'LIMIT', 0, max)
local out = {}
for n, id in ipairs(ids) do
  local d = dv(id, sub)
  local v = redis.call('HMGET', d, 'attempts', 'created')
  local body = redis.call('HGET', ev(id), 'body')
  if not v[1] or not body then
    -- Expired with its event: nothing left to deliver.
    redis.call('ZREM', q, id)
  else
    local tok = tokp .. '.' .. n
    redis.call('HSET', d, 'tok', tok)
    redis.call('ZADD', q, leaseEnd, id)
    out[#out + 1] = {id, v[1], v[2], body, tok}
  end
end
return out
