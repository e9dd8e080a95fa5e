-- redeliver queues the event's delivery to sub again, created at now (the
-- caller's time) and queued at dueAt (the store's clock: see redueAt),
-- making the delivery if the event has none to sub. Any lease on it ends.
-- Callers zflush before they return.
local function redeliver(id, sub, now, dueAt)
  local e = ev(id)
  local m = redis.call('HMGET', e, df(sub, 'st'), 'subs',
    'n:pending', 'n:retrying', 'n:delivered', 'n:dead')
  local old = m[1]
  -- A manual redelivery goes out at once, outside any ordered line: a
  -- waiting one leaves it (wt cleared; promote skips it).
  local f = {df(sub, 'st'), 'pending', df(sub, 'at'), 0, df(sub, 'cr'), now, df(sub, 'nx'), now,
    df(sub, 'tok'), '', df(sub, 'code'), '', df(sub, 'err'), '', df(sub, 'wt'), ''}
  if not old then
    old = nil
    local subs = m[2]
    if subs == '' or not subs then subs = sub else subs = subs .. ',' .. sub end
    f[#f + 1] = 'subs'; f[#f + 1] = subs
    redis.call('SADD', P .. ':r:sub', sub)
  end
  zset(due(sub), id, dueAt)
  zset(deadz(sub), id, false)
  local cnt = {pending = m[3], retrying = m[4], delivered = m[5], dead = m[6]}
  moveStatus(old, 'pending', cnt, f)
  if old == 'retrying' then redis.call('HINCRBY', stat(sub), 'retrying', -1) end
  redis.call('HSET', e, unpack(f))
  -- No longer dead: the reason goes (only a dead delivery has one).
  if old == 'dead' then redis.call('HDEL', e, df(sub, 'dr')) end
end

-- redueAt is when work redelivered at the caller's now is queued: at once
-- by the store's clock, never later because the caller's clock runs ahead.
local function redueAt(mode, now)
  now = tonumber(now)
  if mode == 's' then return fmtms(math.min(now, serverMS())) end
  return fmtms(now)
end
