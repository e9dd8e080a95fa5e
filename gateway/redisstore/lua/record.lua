-- Record records an attempt. ARGV: id, subscriber, token, outcome status,
-- at ms, duration ns, status code, error, next attempt ms, error text for
-- the stats. Returns 0 if the lease is lost, else 1.
local id, sub, tok, status = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local at, dur, code, err, nxt, errText = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local d = dv(id, sub)
local cur = redis.call('HMGET', d, 'tok', 'status')
if not cur[1] or cur[1] == '' or cur[1] ~= tok then return 0 end

local n = redis.call('HINCRBY', d, 'attempts', 1)
local h = hist(id, sub)
redis.call('RPUSH', h, n .. '|' .. at .. '|' .. dur .. '|' .. code .. '|' .. err)
copyTTL(id, h)
redis.call('HSET', d, 'tok', '', 'code', code, 'err', err, 'status', status)

local st = P .. ':s:' .. sub
if status == 'delivered' then
  redis.call('ZREM', due(sub), id)
  redis.call('HDEL', d, 'next')
  redis.call('HINCRBY', st, 'delivered', 1)
  redis.call('HSET', st, 'last_ok', at)
  redis.call('HDEL', st, 'last_err')
elseif status == 'dead' then
  redis.call('ZREM', due(sub), id)
  redis.call('HDEL', d, 'next')
  redis.call('ZADD', deadz(sub), at, id)
  redis.call('HSET', st, 'last_err', errText)
else
  redis.call('ZADD', due(sub), nxt, id)
  redis.call('HSET', d, 'next', nxt)
  redis.call('HSET', st, 'last_err', errText)
end
local recv = redis.call('HGET', ev(id), 'recv')
if recv then setStatus(id, sub, recv, cur[2], status) end
return 1
