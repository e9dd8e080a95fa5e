-- Sweep, per subscriber, one batch: ARGV subscriber, cutoff ms, batch
-- size, offset. Drops the subscriber's index, queue and dead entries of
-- events received at or before cutoff whose event is gone (a backstop:
-- dropEvent removes them with the event), found through the subscriber
-- index. Entries of events still stored are kept and, being at the front
-- of the range, skipped by the caller's offset. Returns {examined, kept}.
local sub, cutoff, batch, offset = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local idx = P .. ':i:sub:' .. sub
local ids = redis.call('ZRANGEBYSCORE', idx, '-inf', cutoff, 'LIMIT', offset, batch)
local kept = 0
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ev(id)) == 1 then
    kept = kept + 1
  else
    zset(due(sub), id, false)
    zset(deadz(sub), id, false)
    for _, st in ipairs(STATUSES) do zset(P .. ':i:ss:' .. sub .. ':' .. st, id, false) end
    zset(idx, id, false)
  end
end
zflush()
return {#ids, kept}
