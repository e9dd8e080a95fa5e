-- Sweep, per subscriber, one batch: ARGV subscriber, set ('q' for the
-- queue, 'x' for the dead set), cutoff ms, batch size, offset. Drops the
-- set's entries scored at or before cutoff whose event is gone (a
-- backstop: dropEvent removes them with the event, so only events deleted
-- outside hookgate leave any; Claim drops queue entries of those too). A
-- queue entry is scored by its due time or lease end, a dead one by its
-- time of death, so old entries come first. Entries of
-- events still stored are kept and, being at the front of the range,
-- skipped by the caller's offset. Returns {examined, kept}.
local sub, set, cutoff, batch, offset = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local key = due(sub)
if set == 'x' then key = deadz(sub) end
local ids = redis.call('ZRANGEBYSCORE', key, '-inf', cutoff, 'LIMIT', offset, batch)
local kept = 0
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ev(id)) == 1 then
    kept = kept + 1
  else
    zset(key, id, false)
  end
end
zflush()
return {#ids, kept}
