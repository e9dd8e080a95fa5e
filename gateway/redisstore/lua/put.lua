-- Put stores a batch of events. ARGV: dedupe window ms, event TTL ms, then
-- per event: id, source, type, subject, received ms, body, number of
-- subscribers, the subscribers. Returns 1 per duplicate event, 0 per
-- stored one.
--
-- Per event it makes only the event and delivery hashes; index entries
-- are gathered per key and added with one ZADD per key at the end, so a
-- batch of many events costs few calls.
local win, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local zadds, zkeys = {}, {}
local function zadd(key, score, member)
  local z = zadds[key]
  if not z then
    z = {}
    zadds[key] = z
    zkeys[#zkeys + 1] = key
  end
  z[#z + 1] = score
  z[#z + 1] = member
end
local regs = {src = {}, type = {}, sub = {}}

-- First, read every event's dedupe deadline, failing before any write if
-- a read fails: a script that errors half way keeps what it wrote, so the
-- caller could not retry the batch event by event safely.
local ddls = {}
local i = 3
while i <= #ARGV do
  local r = redis.pcall('HGET', ev(ARGV[i]), 'ddl')
  if type(r) == 'table' and r.err then return r end
  ddls[ARGV[i]] = r
  i = i + 7 + tonumber(ARGV[i + 6])
end

local out = {}
i = 3
while i <= #ARGV do
  local id, src, typ, subj = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  -- recv stays the decimal string it came as for storing; recvN compares.
  local recv, body, ns = ARGV[i + 4], ARGV[i + 5], tonumber(ARGV[i + 6])
  local recvN = tonumber(recv)
  local subs = {}
  for j = 1, ns do subs[j] = ARGV[i + 6 + j] end
  i = i + 7 + ns

  local meta = ev(id)
  local ddl = ddls[id]
  if ddl and recvN < tonumber(ddl) then
    redis.call('HINCRBY', meta, 'dups', 1)
    out[#out + 1] = 1
  else
    -- Past the window the event is stored afresh, replacing the old one.
    if ddl then dropEvent(id) end
    redis.call('HSET', meta, 'src', src, 'type', typ, 'subj', subj, 'recv', recv, 'dups', 0,
      'subs', table.concat(subs, ','), 'ddl', string.format('%.0f', recvN + win), 'body', body,
      'n:pending', ns)
    redis.call('PEXPIRE', meta, ttl)
    zadd(P .. ':i:all', recv, id)
    zadd(P .. ':i:src:' .. src, recv, id)
    zadd(P .. ':i:type:' .. typ, recv, id)
    regs.src[src] = true
    regs.type[typ] = true
    if ns == 0 then
      zadd(P .. ':i:st:unrouted', recv, id)
    else
      zadd(P .. ':i:st:pending', recv, id)
    end
    for _, sub in ipairs(subs) do
      local d = dv(id, sub)
      redis.call('HSET', d, 'status', 'pending', 'attempts', 0, 'created', recv, 'next', recv, 'tok', '')
      redis.call('PEXPIRE', d, ttl)
      zadd(due(sub), recv, id)
      zadd(P .. ':i:sub:' .. sub, recv, id)
      zadd(P .. ':i:ss:' .. sub .. ':pending', recv, id)
      regs.sub[sub] = true
    end
    ddls[id] = string.format('%.0f', recvN + win)
    out[#out + 1] = 0
  end
end

for _, key in ipairs(zkeys) do
  local z = zadds[key]
  -- unpack is bounded by the Lua stack: add in slices.
  for s = 1, #z, 1000 do
    redis.call('ZADD', key, unpack(z, s, math.min(s + 999, #z)))
  end
end
for kind, names in pairs(regs) do
  local list = {}
  for name in pairs(names) do list[#list + 1] = name end
  if #list > 0 then redis.call('SADD', P .. ':r:' .. kind, unpack(list)) end
end
return out
