-- Shared by every script. KEYS[1] is the key base "{prefix}": every key a
-- script touches starts with it, so all share one cluster hash slot.
local P = KEYS[1]

local function ev(id) return P .. ':e:' .. id end
local function dv(id, sub) return P .. ':d:' .. id .. ':' .. sub end
local function hist(id, sub) return P .. ':h:' .. id .. ':' .. sub end
local function due(sub) return P .. ':q:' .. sub end
local function deadz(sub) return P .. ':x:' .. sub end

local STATUSES = {'pending', 'retrying', 'delivered', 'dead'}

-- setStatus moves the event's delivery to sub from status old to new in the
-- status indexes. The event meta keeps a count per status, so the global
-- per-status index holds an event while any of its deliveries is in it.
local function setStatus(id, sub, recv, old, new)
  if old == new then return end
  if old then
    redis.call('ZREM', P .. ':i:ss:' .. sub .. ':' .. old, id)
    if redis.call('HINCRBY', ev(id), 'n:' .. old, -1) <= 0 then
      redis.call('ZREM', P .. ':i:st:' .. old, id)
    end
  end
  if new then
    redis.call('ZADD', P .. ':i:ss:' .. sub .. ':' .. new, recv, id)
    if redis.call('HINCRBY', ev(id), 'n:' .. new, 1) == 1 then
      redis.call('ZADD', P .. ':i:st:' .. new, recv, id)
    end
  end
end

-- copyTTL gives key the event's remaining lifetime, so that keys made
-- after Put (history, new deliveries) expire with their event.
local function copyTTL(id, key)
  local ttl = redis.call('PTTL', ev(id))
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end

local function splitSubs(s)
  local out = {}
  if s then
    for name in string.gmatch(s, '[^,]+') do out[#out + 1] = name end
  end
  return out
end

-- summary is the event's status for listings (gateway.EventStatus) from
-- its per-status counts.
local function summary(np, nr, nd, nx)
  if tonumber(nx or '0') > 0 then return 'dead' end
  if tonumber(nr or '0') > 0 then return 'retrying' end
  if tonumber(np or '0') > 0 then return 'pending' end
  if tonumber(nd or '0') > 0 then return 'delivered' end
  return 'unrouted'
end

-- dropEvent removes an event, its deliveries and every index entry it has.
local function dropEvent(id)
  local m = redis.call('HMGET', ev(id), 'src', 'type', 'subs')
  for _, sub in ipairs(splitSubs(m[3])) do
    redis.call('DEL', dv(id, sub), hist(id, sub))
    redis.call('ZREM', due(sub), id)
    redis.call('ZREM', deadz(sub), id)
    redis.call('ZREM', P .. ':i:sub:' .. sub, id)
    for _, st in ipairs(STATUSES) do redis.call('ZREM', P .. ':i:ss:' .. sub .. ':' .. st, id) end
  end
  if m[1] then redis.call('ZREM', P .. ':i:src:' .. m[1], id) end
  if m[2] then redis.call('ZREM', P .. ':i:type:' .. m[2], id) end
  for _, st in ipairs(STATUSES) do redis.call('ZREM', P .. ':i:st:' .. st, id) end
  redis.call('ZREM', P .. ':i:st:unrouted', id)
  redis.call('ZREM', P .. ':i:all', id)
  redis.call('DEL', ev(id))
end
