-- Sweep, events, one batch: ARGV cutoff ms, batch size, tombstone window
-- ms (0: none), the tombstones' time (ms), offset. Drops events received
-- at or before cutoff with everything they have, except those with a
-- delivery still pending or retrying: retention never drops an event that
-- has not reached every subscriber (a paused one, an open breaker); it
-- goes once its deliveries have ended. Each event dropped leaves its
-- tombstone (common.lua). Kept events stay at the front of the range, so
-- the caller passes how many it has kept so far as the offset. Returns
-- {examined, kept}. A re-run writes the same tombstones again: harmless.
local cutoff, batch, twin, tnow, offset = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ids = redis.call('ZRANGEBYSCORE', P .. ':i:all', '-inf', cutoff, 'LIMIT', offset, batch)
local kept = 0
for _, id in ipairs(ids) do
  local n = redis.call('HMGET', ev(id), 'n:pending', 'n:retrying')
  if tonumber(n[1] or '0') > 0 or tonumber(n[2] or '0') > 0 then
    kept = kept + 1
  else
    dropEvent(id)
    if twin > 0 then tombAdd(id, tnow, twin) end
  end
end
return {#ids, kept}
