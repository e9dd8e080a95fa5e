-- Recount, one step of the layout 2 to 3 migration: ARGV subscriber,
-- start rank, count. Returns how many of the subscriber's queue entries
-- in [start, start+count) are retrying deliveries.
local sub, start, count = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local n = 0
for _, id in ipairs(redis.call('ZRANGE', due(sub), start, start + count - 1)) do
  if redis.call('HGET', ev(id), df(sub, 'st')) == 'retrying' then n = n + 1 end
end
return n
