-- Sweep, per subscriber, one batch: ARGV subscriber, cutoff ms, batch
-- size. Drops the subscriber's index, queue and dead entries of events
-- received at or before cutoff, found through the subscriber index, so
-- that none is left even where the event itself is already gone. Returns
-- how many.
local sub, cutoff, batch = ARGV[1], ARGV[2], tonumber(ARGV[3])
local idx = P .. ':i:sub:' .. sub
local ids = redis.call('ZRANGEBYSCORE', idx, '-inf', cutoff, 'LIMIT', 0, batch)
for _, id in ipairs(ids) do
  zset(due(sub), id, false)
  zset(deadz(sub), id, false)
  for _, st in ipairs(STATUSES) do zset(P .. ':i:ss:' .. sub .. ':' .. st, id, false) end
  zset(idx, id, false)
end
zflush()
return #ids
