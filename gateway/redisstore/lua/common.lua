-- Shared by every script. KEYS[1] is the key base "{prefix}": every key a
-- script touches starts with it, so all share one cluster hash slot.
local P = KEYS[1]

local function ev(id) return P .. ':e:' .. id end
local function due(sub) return P .. ':q:' .. sub end
local function deadz(sub) return P .. ':x:' .. sub end
-- df names a field of the event hash that holds its delivery to sub:
-- st (status), at (attempts), cr (created), nx (next), tok, code, err,
-- dr (dead reason), hn (history length) and h<k> (history entry k).
-- Subscriber names hold no ':', so these never collide with the event's
-- own fields.
-- The names are built once per script call and subscriber: a batch
-- names the same few fields of the same subscriber thousands of times,
-- and building a string is most of what a field costs Lua.
local dfNames = {}
local function df(sub, f)
  local names = dfNames[sub]
  if not names then
    names = {}
    dfNames[sub] = names
  end
  local name = names[f]
  if not name then
    name = 'd:' .. sub .. ':' .. f
    names[f] = name
  end
  return name
end

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
-- new delivery) to new in the event's per-status counts. cnt holds the
-- counts as last read (updated here); the new counts are appended to f, the
-- field/value list the caller writes to the event hash. No index follows
-- the status: List tests the counts (and the delivery's st) as it walks
-- i:all.
local function moveStatus(old, new, cnt, f)
  if old == new then return end
  if old then
    local c = tonumber(cnt[old] or '0') - 1
    cnt[old] = c
    f[#f + 1] = 'n:' .. old
    f[#f + 1] = c
  end
  local c = tonumber(cnt[new] or '0') + 1
  cnt[new] = c
  f[#f + 1] = 'n:' .. new
  f[#f + 1] = c
end

-- Ordered deliveries (ordering: subject). Per subscriber and subject, the
-- head (o:<sub>:<subject>, an event id) is the one delivery in the queue;
-- the others wait in w:<sub>:<subject>, a sorted set scored by receipt ms
-- (so that a backfilled older event takes its place among them) whose
-- members are "<seq>:<id>", seq a partition-wide counter (wseq), so that
-- events of one millisecond (a catalog360 batch) keep their order. A
-- waiting delivery is flagged d:<sub>:wt = 1 and queued at WAITING, a
-- score no claim reaches, so that the queue still counts and lists it.
-- Deliveries made ordered carry d:<sub>:ord = 1. A subject's events share
-- a partition (partOf), whatever their source, so a line is one key set.
local WAITING = '9000000000000000'
-- A subject longer than LINE_SUBJECT_MAX bytes (gateway.LineSubjectMax)
-- names its line by '#' and its SHA-1, as the embedded store does by a
-- hash: a 40,000-character id would otherwise make two keys of its size
-- per subscriber. Two subjects of one hash would share a line (ordered
-- together, never misordered).
local LINE_SUBJECT_MAX = 1024
local function lineName(subj)
  if #subj <= LINE_SUBJECT_MAX then return subj end
  return '#' .. redis.sha1hex(subj)
end
local function headKey(sub, subj) return P .. ':o:' .. sub .. ':' .. lineName(subj) end
local function lineKey(sub, subj) return P .. ':w:' .. sub .. ':' .. lineName(subj) end

-- lineAdd puts id, received at recv ms, in sub's line of subj.
local function lineAdd(sub, subj, recv, id)
  local seq = redis.call('INCR', P .. ':wseq')
  redis.call('ZADD', lineKey(sub, subj), recv, string.format('%016d', seq) .. ':' .. id)
end

-- liveHead reports whether id is a head still in the line: its delivery
-- to sub pending or retrying, and not waiting.
local function liveHead(id, sub)
  if not id then return false end
  local v = redis.call('HMGET', ev(id), df(sub, 'st'), df(sub, 'wt'))
  return (v[1] == 'pending' or v[1] == 'retrying') and v[2] ~= '1'
end

-- promote makes the next waiting delivery of sub's subject line the head,
-- due at dueAt, or ends the line. Entries that left it (redelivered,
-- purged, swept, stored afresh) are skipped.
local function promote(sub, subj, dueAt)
  local line = lineKey(sub, subj)
  while true do
    local member = redis.call('ZPOPMIN', line)[1]
    if not member then
      redis.call('DEL', headKey(sub, subj))
      return
    end
    local nxt = string.match(member, '^%d+:(.*)$') or member
    local v = redis.call('HMGET', ev(nxt), df(sub, 'st'), df(sub, 'wt'))
    if v[1] == 'pending' and v[2] == '1' then
      redis.call('SET', headKey(sub, subj), nxt)
      redis.call('HSET', ev(nxt), df(sub, 'wt'), '')
      zset(due(sub), nxt, dueAt)
      return
    end
  end
end

-- placeInLine decides where the ordered delivery id/sub of subj, received
-- at recv ms, goes, and returns true when it is to be the head (queued at
-- its due time) or false when it waits (the caller flags it and queues it
-- at WAITING; it is in the line already). A line whose head is no longer
-- live but which still has waiting ones lets the next go first (a head
-- stored afresh without its delivery). An older delivery takes the place
-- of a newer head that no worker has taken yet (a backfilled event; an
-- older event whose Put lost the race to a newer one); the head then
-- waits. Otherwise it waits, in receipt order.
local function placeInLine(id, sub, subj, recv, dueAt)
  local hk = headKey(sub, subj)
  local head = redis.call('GET', hk)
  if head ~= id and not liveHead(head, sub) and redis.call('ZCARD', lineKey(sub, subj)) > 0 then
    promote(sub, subj, dueAt)
    head = redis.call('GET', hk)
  end
  if head == id or not liveHead(head, sub) then
    redis.call('SET', hk, id)
    return true
  end
  local h = redis.call('HMGET', ev(head), 'recv', df(sub, 'at'), df(sub, 'tok'))
  local untouched = (not h[2] or h[2] == '0') and (not h[3] or h[3] == '')
  if tonumber(h[1]) > tonumber(recv) and untouched then
    lineAdd(sub, subj, h[1], head)
    redis.call('HSET', ev(head), df(sub, 'wt'), 1)
    zset(due(sub), head, WAITING)
    redis.call('SET', hk, id)
    return true
  end
  lineAdd(sub, subj, recv, id)
  return false
end

-- joinLine places a requeued ordered delivery (queued by the caller at
-- its due time) in its line: placeInLine, then flags it if it waits.
local function joinLine(id, sub, subj, recv, dueAt)
  redis.call('HSET', ev(id), df(sub, 'ord'), 1)
  if not placeInLine(id, sub, subj, recv, dueAt) then
    redis.call('HSET', ev(id), df(sub, 'wt'), 1)
    zset(due(sub), id, WAITING)
  end
end

-- stat names a subscriber's counters hash: delivered, retrying (how many
-- of its deliveries are retrying now), last_ok, last_err.
local function stat(sub) return P .. ':s:' .. sub end

-- Changes to the retrying counts are gathered per subscriber (retryDelta)
-- and written with one HINCRBY each when the script ends (retryFlush).
local rdelta, rsubs = {}, {}
local function retryDelta(old, new, sub)
  local d = 0
  if old == 'retrying' then d = d - 1 end
  if new == 'retrying' then d = d + 1 end
  if d == 0 then return end
  if not rdelta[sub] then rsubs[#rsubs + 1] = sub end
  rdelta[sub] = (rdelta[sub] or 0) + d
end
local function retryFlush()
  for _, sub in ipairs(rsubs) do
    if rdelta[sub] ~= 0 then redis.call('HINCRBY', stat(sub), 'retrying', rdelta[sub]) end
  end
  rdelta, rsubs = {}, {}
end

-- history reads the hn history entries of the event e's delivery to sub,
-- in slices: unpack is bounded by the Lua stack, and redeliveries let
-- history grow past max_attempts.
local function history(e, sub, hn)
  local hist = {}
  hn = tonumber(hn or '0')
  for s = 1, hn, 1000 do
    local names = {}
    for k = s, math.min(s + 999, hn) do names[#names + 1] = df(sub, 'h' .. k) end
    for _, h in ipairs(redis.call('HMGET', e, unpack(names))) do hist[#hist + 1] = h end
  end
  return hist
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

-- dropEvent removes an event, its deliveries, its queue and dead-set
-- entries and its i:all entry. It writes at once, not through zset: Put
-- re-adds a dropped id later in the same script.
local function dropEvent(id)
  local m = redis.call('HMGET', ev(id), 'subs', 'subj', 'recv')
  for _, sub in ipairs(splitSubs(m[1])) do
    redis.call('ZREM', due(sub), id)
    redis.call('ZREM', deadz(sub), id)
    local st = redis.call('HGET', ev(id), df(sub, 'st'))
    if st == 'retrying' then
      redis.call('HINCRBY', stat(sub), 'retrying', -1)
    end
    -- A head that goes lets the next of its line go, due at once (its
    -- own receipt time).
    if m[2] and m[2] ~= '' and redis.call('GET', headKey(sub, m[2])) == id then
      promote(sub, m[2], m[3])
    end
  end
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
-- Tombstones (store.tombstone_window): when Sweep removes an event at
-- retention, 60 bits of its id's SHA-1 are kept, so that a replay of it is
-- still a duplicate. They are kept in generations of one window each
-- (floor(ms / window)), a generation split into 65536 sets by the hash's
-- first 16 bits, each set holding the other 44 bits as integers:
-- t:<generation>:<shard>. Redis keeps a set of at most
-- set-max-intset-entries (512) integers as an intset, 8 bytes a member:
-- 33 million tombstones per generation and partition.
-- A tombstone goes into the generation of its Sweep's time (less a few
-- minutes of allowance for clock skew, passed in); Put looks in its
-- receipt time's generation and the one before; a generation's sets
-- expire once Put no longer looks in it. So an id is recognized for one
-- to two windows after its event went.
local function tombOf(id)
  local h = redis.sha1hex(id)
  return tonumber(string.sub(h, 1, 4), 16), string.format('%.0f', tonumber(string.sub(h, 5, 15), 16))
end
local function tombKey(gen, shard) return P .. ':t:' .. string.format('%.0f', gen) .. ':' .. shard end
-- tombstoned reports whether id has a tombstone recognized at t ms; an
-- error reply (a foreign key of another type) comes back as the second
-- value.
local function tombstoned(id, t, win)
  local shard, m = tombOf(id)
  local g = math.floor(t / win)
  for gen = g, g - 1, -1 do
    local r = redis.pcall('SISMEMBER', tombKey(gen, shard), m)
    if type(r) == 'table' and r.err then return false, r end
    if r == 1 then return true end
  end
  return false
end
-- tombAdd writes id's tombstone for a Sweep at now ms.
local function tombAdd(id, now, win)
  local shard, m = tombOf(id)
  local g = math.floor(now / win)
  local key = tombKey(g, shard)
  redis.call('SADD', key, m)
  redis.call('PEXPIRE', key, fmtms(math.max(1, (g + 2) * win - now)), 'NX')
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

-- Rate limit buckets (rate_limit), one per subscriber under the store's
-- own tag "{prefix}" (on one partition, the partition's own tag), so that
-- every gateway draws from it. The hash holds t (tokens, a decimal) and at
-- (ms of the last refill, on the store's clock). A missing bucket is full,
-- which is also what an idle one becomes: it expires once it would have
-- refilled. rate is per second.
local function bucketKey(base, sub) return base .. ':rl:' .. sub end
local function bucketRead(key, rate, burst, now)
  local v = redis.call('HMGET', key, 't', 'at')
  local tokens, at = tonumber(v[1]), tonumber(v[2])
  if not tokens or not at then tokens, at = burst, now end
  if now > at then
    tokens = tokens + (now - at) * rate / 1000
    at = now
  end
  return math.min(tokens, burst), at
end
local function bucketWrite(key, tokens, at, rate, burst)
  redis.call('HSET', key, 't', string.format('%.6f', tokens), 'at', fmtms(at))
  redis.call('PEXPIRE', key, math.max(60000, math.ceil(burst / rate * 1000) * 2))
end
-- bucketWait is how long until the bucket holding tokens has one more.
local function bucketWait(tokens, rate)
  return math.ceil((1 - (tokens - math.floor(tokens))) * 1000 / rate)
end
