-- Sweep, events, one batch: ARGV cutoff ms, batch size. Drops events
-- received at or before cutoff with everything they have. Returns how many.
local cutoff, batch = ARGV[1], tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', P .. ':i:all', '-inf', cutoff, 'LIMIT', 0, batch)
for _, id in ipairs(ids) do dropEvent(id) end
return #ids
