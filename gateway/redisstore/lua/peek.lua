-- Peek reads, without leasing, the first due deliveries of a subscriber in
-- this partition, for a claim across partitions to choose the oldest due
-- of all. ARGV: subscriber, caller's now ms, max, clock mode. Returns {id,
-- due ms, ...}; nothing while the subscriber is paused.
local sub, callerNow, max, mode = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
if redis.call('SISMEMBER', P .. ':paused', sub) == 1 then return {} end
local now = clockNow(mode, callerNow)
return redis.call('ZRANGEBYSCORE', due(sub), '-inf', fmtms(now), 'WITHSCORES', 'LIMIT', 0, max)
