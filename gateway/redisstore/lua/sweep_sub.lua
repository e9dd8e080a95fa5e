-- Sweep, per subscriber, one batch: ARGV subscriber, cutoff ms, batch
-- size. Drops the subscriber's deliveries of events received at or before
-- cutoff, found through the subscriber index, so that queue and dead
-- entries go even when the event's keys already expired. Returns how many.
local sub, cutoff, batch = ARGV[1], ARGV[2], tonumber(ARGV[3])
local idx = P .. ':i:sub:' .. sub
local ids = redis.call('ZRANGEBYSCORE', idx, '-inf', cutoff, 'LIMIT', 0, batch)
for _, id in ipairs(ids) do
  redis.call('DEL', dv(id, sub), hist(id, sub))
  redis.call('ZREM', due(sub), id)
  redis.call('ZREM', deadz(sub), id)
  for _, st in ipairs(STATUSES) do redis.call('ZREM', P .. ':i:ss:' .. sub .. ':' .. st, id) end
  redis.call('ZREM', idx, id)
end
return #ids
