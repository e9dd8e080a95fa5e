-- Sweep, indexes: ARGV cutoff ms. Trims every index scored by receipt time
-- by score, for entries whose event expired before Sweep could read it.
local cutoff = ARGV[1]
local function trim(key) redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff) end
for _, src in ipairs(redis.call('SMEMBERS', P .. ':r:src')) do trim(P .. ':i:src:' .. src) end
for _, typ in ipairs(redis.call('SMEMBERS', P .. ':r:type')) do trim(P .. ':i:type:' .. typ) end
for _, st in ipairs(STATUSES) do trim(P .. ':i:st:' .. st) end
trim(P .. ':i:st:unrouted')
trim(P .. ':i:all')
return 0
