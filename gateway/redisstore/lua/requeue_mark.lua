-- MarkSubscribers, on the registry hash "{prefix}:seen" (KEYS[1] is the
-- store's own tag, not a partition's): name -> 'd' (seen, nothing
-- pending) or 'p:<since ms>:<until ms>' (a backfill pending). ARGV: the
-- number of seed names, the seeds, then per subscriber its name, since ms
-- and until ms ('' and '': no backfill). Returns {name, value} for each
-- subscriber with a backfill pending.
--
-- The registry is made, and seeded with the seeds (every subscriber the
-- store holds deliveries for, gathered by the caller), by the first call
-- that finds it missing; the field '.' keeps a seeded registry in being
-- when it names no subscriber yet.
local reg = P .. ':seen'
local nseeds = tonumber(ARGV[1])
if redis.call('EXISTS', reg) == 0 then
  redis.call('HSET', reg, '.', 'registry')
  for i = 2, nseeds + 1 do redis.call('HSETNX', reg, ARGV[i], 'd') end
end
local out = {}
for i = nseeds + 2, #ARGV, 3 do
  local name, since, untilMS = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local v = redis.call('HGET', reg, name)
  if not v then
    v = 'd'
    if since ~= '' then v = 'p:' .. since .. ':' .. untilMS end
    redis.call('HSET', reg, name, v)
  end
  if string.sub(v, 1, 2) == 'p:' then
    out[#out + 1] = name
    out[#out + 1] = v
  end
end
return out
