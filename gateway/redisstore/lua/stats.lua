-- Stats reads a subscriber's counters. ARGV: subscriber, scan. Returns
-- {pending, dead, delivered, last_ok, last_err, retrying, oldest created
-- ms or '', last_err_at}.
--
-- Pending and dead are the sizes of its queue and dead set, so they cannot
-- drift from what Claim and Dead see. The oldest pending delivery is
-- looked for among the first scan queue entries (by due time, which is
-- what the queue is kept in for Claim): exact while the queue is no
-- longer, and otherwise a real delivery's creation, so the age it gives
-- is never more than the true one.
local sub, scan = ARGV[1], tonumber(ARGV[2])
local q = due(sub)
local h = redis.call('HMGET', stat(sub), 'delivered', 'last_ok', 'last_err', 'retrying', 'last_err_at')
local oldest
local fcr = df(sub, 'cr')
for _, id in ipairs(redis.call('ZRANGE', q, 0, scan - 1)) do
  local v = redis.call('HMGET', ev(id), fcr, 'recv')
  local cr = tonumber(v[1] or v[2] or '')
  if cr and (not oldest or cr < oldest) then oldest = cr end
end
return {redis.call('ZCARD', q), redis.call('ZCARD', deadz(sub)), h[1] or '0', h[2] or '', h[3] or '',
  h[4] or '0', oldest and fmtms(oldest) or '', h[5] or '0'}
