-- Sweep, events, one batch: ARGV cutoff ms, batch size, offset. Drops
-- events received at or before cutoff with everything they have, except
-- those with a delivery still pending or retrying: retention never drops
-- an event that has not reached every subscriber (a paused one, an open
-- breaker); it goes once its deliveries have ended. Kept events stay at the
-- front of the range, so the caller passes how many it has kept so far as
-- the offset. Returns {examined, kept}.
local cutoff, batch, offset = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', P .. ':i:all', '-inf', cutoff, 'LIMIT', offset, batch)
local kept = 0
for _, id in ipairs(ids) do
  local n = redis.call('HMGET', ev(id), 'n:pending', 'n:retrying')
  if tonumber(n[1] or '0') > 0 or tonumber(n[2] or '0') > 0 then
    kept = kept + 1
  else
    dropEvent(id)
  end
end
return {#ids, kept}
