-- Dead lists a subscriber's dead deliveries, most recently dead first.
-- ARGV: subscriber, limit. Returns {id, attempts, created, code, error}.
local sub, limit = ARGV[1], tonumber(ARGV[2])
local out = {}
local ids = redis.call('ZREVRANGE', deadz(sub), 0, limit - 1)
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', dv(id, sub), 'status', 'attempts', 'created', 'code', 'err')
  if v[1] == 'dead' then
    out[#out + 1] = {id, v[2], v[3], v[4] or '', v[5] or ''}
  end
end
return out
