-- EndBackfill: ARGV subscriber. A pending backfill in the registry (see
-- requeue_mark.lua) becomes done; any other entry, or none, is left.
local reg = P .. ':seen'
local v = redis.call('HGET', reg, ARGV[1])
if v and string.sub(v, 1, 2) == 'p:' then redis.call('HSET', reg, ARGV[1], 'd') end
return 0
