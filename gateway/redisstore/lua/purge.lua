-- Purge, one step: ARGV subscriber, batch size. Deletes up to batch of the
-- subscriber's queued (pending or retrying, leased or not) and dead
-- deliveries, with their fields and history, keeping every count as if
-- the delivery had never been made: the event's n:<status> and subs (an
-- event left with no delivery is unrouted). A deleted lease token makes
-- its holder's Record and Release fail with ErrLeaseLost. Delivered deliveries are not in the
-- queue nor the dead set, so they stay. Returns {purged, orphans,
-- examined}; the caller repeats while a full batch was examined.
local sub, batch = ARGV[1], tonumber(ARGV[2])
local q, x = due(sub), deadz(sub)
local ids = redis.call('ZRANGE', q, 0, batch - 1)
if #ids < batch then
  for _, id in ipairs(redis.call('ZRANGE', x, 0, batch - #ids - 1)) do ids[#ids + 1] = id end
end
local FIELDS = {'st', 'at', 'cr', 'nx', 'tok', 'code', 'err', 'hn', 'ord', 'wt', 'rn', 'dr'}
local purged, orphans, seen = 0, 0, {}
for _, id in ipairs(ids) do
  if not seen[id] then
    seen[id] = true
    zset(q, id, false)
    zset(x, id, false)
    local e = ev(id)
    local m = redis.call('HMGET', e, 'recv', 'subs', df(sub, 'st'), df(sub, 'hn'),
      'n:pending', 'n:retrying', 'n:delivered', 'n:dead', df(sub, 'ord'), 'subj')
    local st = m[3]
    if not m[1] or not st then
      -- The event (or this delivery of it) is gone: only the entries are
      -- left to drop.
      orphans = orphans + 1
    elseif st ~= 'delivered' then
      retryDelta(st, nil, sub)
      if m[9] == '1' and m[10] and m[10] ~= '' then
        -- The subject's line goes with its deliveries; the next event of
        -- the subject starts a new one.
        redis.call('DEL', headKey(sub, m[10]), lineKey(sub, m[10]))
      end
      local cnt = {pending = m[5], retrying = m[6], delivered = m[7], dead = m[8]}
      local c = tonumber(cnt[st] or '0') - 1
      local rest = {}
      for _, s in ipairs(splitSubs(m[2])) do
        if s ~= sub then rest[#rest + 1] = s end
      end
      redis.call('HSET', e, 'n:' .. st, c, 'subs', table.concat(rest, ','))
      local names = {}
      for _, f in ipairs(FIELDS) do names[#names + 1] = df(sub, f) end
      redis.call('HDEL', e, unpack(names))
      -- History in slices: unpack is bounded by the Lua stack.
      local hn = tonumber(m[4] or '0')
      for s = 1, hn, 1000 do
        names = {}
        for k = s, math.min(s + 999, hn) do names[#names + 1] = df(sub, 'h' .. k) end
        redis.call('HDEL', e, unpack(names))
      end
      purged = purged + 1
    end
  end
end
zflush()
retryFlush()
return {purged, orphans, #ids}
