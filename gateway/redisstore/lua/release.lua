-- Release hands a lease back. ARGV: id, subscriber, token, due ms (the
-- caller's clock; queued by the store's, see tokenSkew). Returns 0 if the
-- lease is lost, else 1.
local id, sub, tok, at = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local e = ev(id)
local cur = redis.call('HGET', e, df(sub, 'tok'))
if not cur or cur == '' or cur ~= tok then return 0 end
redis.call('HSET', e, df(sub, 'tok'), '', df(sub, 'nx'), at)
redis.call('ZADD', due(sub), fmtms(tonumber(at) - tokenSkew(tok)), id)
return 1
