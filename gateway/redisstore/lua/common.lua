-- Shared by every script. KEYS[1] is the key base "{prefix}": every key a
-- script touches starts with it, so all share one cluster hash slot.
local P = KEYS[1]

local function ev(id) return P .. ':e:' .. id end
local function due(sub) return P .. ':q:' .. sub end
local function deadz(sub) return P .. ':x:' .. sub end
-- df names a field of the event hash that holds its delivery to sub:
-- st (status), at (attempts), cr (created), nx (next), tok, code, err,
-- hn (history length) and h<k> (history entry k). Subscriber names hold
-- no ':', so these never collide with the event's own fields.
local function df(sub, f) return 'd:' .. sub .. ':' .. f end

local STATUSES = {'pending', 'retrying', 'delivered', 'dead'}

-- Sorted-set writes are gathered per key and sent as one ZADD and one ZREM
-- per key when the script ends (zflush): a batch then costs one command per
-- index key instead of one per entry. The last write to a member wins, as
-- it would had each been sent at once; scripts read no sorted set after
-- gathering writes to it.
local zops, zkeys = {}, {}
-- zset adds member to key with score, or removes it when score is false.
local function zset(key, member, score)
  local z = zops[key]
  if not z then
    z = {}
    zops[key] = z
    zkeys[#zkeys + 1] = key
  end
  z[member] = score
end
local function zflush()
  for _, key in ipairs(zkeys) do
    local adds, rems = {}, {}
    for m, sc in pairs(zops[key]) do
      if sc then
        adds[#adds + 1] = sc
        adds[#adds + 1] = m
      else
        rems[#rems + 1] = m
      end
    end
    -- unpack is bounded by the Lua stack: send in slices.
    for s = 1, #adds, 1000 do redis.call('ZADD', key, unpack(adds, s, math.min(s + 999, #adds))) end
    for s = 1, #rems, 1000 do redis.call('ZREM', key, unpack(rems, s, math.min(s + 999, #rems))) end
  end
  zops, zkeys = {}, {}
end

-- moveStatus moves the event's delivery to sub from status old (nil for a
-- new delivery) to new in the status indexes. cnt holds the event's
-- delivery count per status as last read (updated here); the new counts
-- are appended to f, the field/value list the caller writes to the event
-- hash. The global per-status index holds an event while any of its
-- deliveries is in that status.
local function moveStatus(id, sub, recv, old, new, cnt, f)
  if old == new then return end
  if old then
    zset(P .. ':i:ss:' .. sub .. ':' .. old, id, false)
    local c = tonumber(cnt[old] or '0') - 1
    cnt[old] = c
    f[#f + 1] = 'n:' .. old
    f[#f + 1] = c
    if c <= 0 then zset(P .. ':i:st:' .. old, id, false) end
  end
  zset(P .. ':i:ss:' .. sub .. ':' .. new, id, recv)
  local c = tonumber(cnt[new] or '0') + 1
  cnt[new] = c
  f[#f + 1] = 'n:' .. new
  f[#f + 1] = c
  if c == 1 then zset(P .. ':i:st:' .. new, id, recv) end
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
-- It writes at once, not through zset: Put re-adds a dropped id later in
-- the same script.
local function dropEvent(id)
  local m = redis.call('HMGET', ev(id), 'src', 'type', 'subs')
  for _, sub in ipairs(splitSubs(m[3])) do
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

-- Clocks. Leases and due times are judged by one clock for every gateway
-- sharing the store: Redis's own (TIME; Redis 7 replicates a script's
-- effects, so a script may read it). mode is 's' for that, or 'c' to judge
-- by the times callers pass (tests that inject a clock far from the wall
-- clock). Times are whole milliseconds; fmtms writes one without the
-- exponent that Lua's own conversion would use past 14 digits.
local function fmtms(t) return string.format('%.0f', t) end
local function serverMS()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- clockNow is the time to judge by: the server's, or the caller's t.
local function clockNow(mode, t)
  if mode == 's' then return serverMS() end
  return tonumber(t)
end
-- A lease token ends with '~' and the claimer's clock skew (its now minus
-- the store's, ms), so that Record and Release can turn the times their
-- caller passes (a retry's due time, a release's) into the store's clock:
-- a gateway whose clock runs ahead then does not hold work back, nor one
-- behind rush it. Tokens without it (older gateways) have skew 0.
local function tokenSkew(tok)
  return tonumber(string.match(tok, '~(%-?%d+)$') or '0')
end
