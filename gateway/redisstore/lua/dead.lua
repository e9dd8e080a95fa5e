-- Dead lists a subscriber's dead deliveries, most recently dead first.
-- ARGV: subscriber, limit. Returns {id, attempts, created, code, error,
-- history, died ms}.
local sub, limit = ARGV[1], tonumber(ARGV[2])
local out = {}
local ids = redis.call('ZREVRANGE', deadz(sub), 0, limit - 1, 'WITHSCORES')
for k = 1, #ids, 2 do
  local id, died = ids[k], ids[k + 1]
  local e = ev(id)
  local v = redis.call('HMGET', e, df(sub, 'st'), df(sub, 'at'), df(sub, 'cr'), df(sub, 'code'), df(sub, 'err'), df(sub, 'hn'), 'recv')
  if v[1] == 'dead' then
    out[#out + 1] = {id, v[2], v[3] or v[7], v[4] or '', v[5] or '', history(e, sub, v[6]), died}
  end
end
return out
