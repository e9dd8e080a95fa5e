-- Claim leases due deliveries. ARGV: subscriber, now ms, max, lease end ms,
-- token prefix. Returns {id, attempts, created ms, body, token} per claim.
local sub, now, max, leaseEnd, tokp = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local q = due(sub)
local ids = redis.call('ZRANGEBYSCORE', q, '-inf', now, 'LIMIT', 0, max)
local out = {}
local fat, fcr, ftok = df(sub, 'at'), df(sub, 'cr'), df(sub, 'tok')
for n, id in ipairs(ids) do
  local e = ev(id)
  local v = redis.call('HMGET', e, fat, fcr, 'body')
  if not v[1] or not v[3] then
    -- Swept with its event meanwhile: nothing left to deliver.
    zset(q, id, false)
  else
    local tok = tokp .. '.' .. n
    redis.call('HSET', e, ftok, tok)
    zset(q, id, leaseEnd)
    out[#out + 1] = {id, v[1], v[2], v[3], tok}
  end
end
zflush()
return out
