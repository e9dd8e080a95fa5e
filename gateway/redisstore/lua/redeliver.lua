-- redeliver queues the event's delivery to sub again, due at now, making
-- the delivery if the event has none to sub. Any lease on it ends.
local function redeliver(id, sub, now)
  local d = dv(id, sub)
  local recv = redis.call('HGET', ev(id), 'recv')
  local old = redis.call('HGET', d, 'status')
  if not old then
    local subs = redis.call('HGET', ev(id), 'subs')
    if subs == '' then subs = sub else subs = subs .. ',' .. sub end
    redis.call('HSET', ev(id), 'subs', subs)
    redis.call('ZREM', P .. ':i:st:unrouted', id)
    redis.call('ZADD', P .. ':i:sub:' .. sub, recv, id)
    redis.call('SADD', P .. ':r:sub', sub)
  end
  redis.call('HSET', d, 'status', 'pending', 'attempts', 0, 'created', now, 'next', now, 'tok', '')
  redis.call('HDEL', d, 'code', 'err')
  copyTTL(id, d)
  redis.call('ZADD', due(sub), now, id)
  redis.call('ZREM', deadz(sub), id)
  setStatus(id, sub, recv, old or nil, 'pending')
end
