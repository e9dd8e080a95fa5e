-- Put stores a batch of events. ARGV: dedupe window ms, clock mode, the
-- call's token, then per event: id, source, type, subject, received ms,
-- body, number of subscribers, the subscribers, number of ordered ones,
-- the ordered ones. Returns 1 per duplicate event, 0 per stored one.
--
-- The token is new for each call the store makes, and each event stored
-- keeps it (pt). The client runs a call again when its reply was lost (a
-- reset connection, a timeout): an event that call stored then has the
-- same token, and is answered stored again, not a duplicate, so that
-- ingest counts it and wakes its dispatchers. A provider's retry is a new
-- call, with a new token: a duplicate.
--
-- An ordered delivery of an event with a subject becomes its line's head
-- (queued as any other) unless a live head is there; then it waits at
-- the line's end (see common.lua).
--
-- New deliveries are due at once. Judged by the server's clock, a batch
-- whose receipt times run ahead of it (its gateway's clock is fast) is
-- queued shifted back by the newest one's lead: due now, in receipt order.
-- The stored times (recv, cr, nx) stay the caller's.
--
-- Per event it writes one hash, the event with its deliveries; its i:all
-- and queue entries are gathered per key (zset) and added with one ZADD
-- per key at the end, so a batch of many events costs few calls. The
-- batch's subscribers are added to the r:sub registry in one SADD.
--
-- The event hashes go last, after the queue entries: a hash holds the
-- dedupe deadline, and a script that errors half way keeps what it wrote.
-- Were a hash written before a queue write that fails (a foreign key of
-- the wrong type, an error of this script), the caller's 503 would be
-- followed by the provider's retry answered as a duplicate, and the
-- delivery would never be queued. This way a failed write leaves at most
-- queue entries without their event, which Claim drops and counts, and
-- the retry stores the event afresh. The hashes themselves cannot fail on
-- type: the reads above touched each of them. An event with an ordered
-- delivery is the exception: the line of its subject reads and flags the
-- heads' hashes as the batch goes (placeInLine), so its hash is written at
-- once, and only its dedupe deadline at the end, at the cost of one more
-- HSET.
local win, mode, callTok = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local FIRST = 4
local regs = {}

-- First, read every event's dedupe deadline, failing before any write if
-- a read fails: a script that errors half way keeps what it wrote, so the
-- caller could not retry the batch event by event safely.
local ddls, toks = {}, {}
local newest
local i = FIRST
while i <= #ARGV do
  local r = redis.pcall('HMGET', ev(ARGV[i]), 'ddl', 'pt')
  if r.err then return r end
  ddls[ARGV[i]] = r[1]
  toks[ARGV[i]] = r[2]
  local recv = tonumber(ARGV[i + 4])
  if not newest or recv > newest then newest = recv end
  local ns = tonumber(ARGV[i + 6])
  i = i + 8 + ns + tonumber(ARGV[i + 7 + ns])
end
local lead = 0
if mode == 's' and newest then lead = math.max(0, newest - serverMS()) end

local out = {}
local hashes, dupInc = {}, {}
i = FIRST
while i <= #ARGV do
  local id, src, typ, subj = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  -- recv stays the decimal string it came as for storing; recvN compares.
  local recv, body, ns = ARGV[i + 4], ARGV[i + 5], tonumber(ARGV[i + 6])
  local recvN = tonumber(recv)
  local subs = {}
  for j = 1, ns do subs[j] = ARGV[i + 6 + j] end
  local no = tonumber(ARGV[i + 7 + ns])
  local ordered = {}
  if subj ~= '' then
    for j = 1, no do ordered[ARGV[i + 7 + ns + j]] = true end
  end
  i = i + 8 + ns + no

  local meta = ev(id)
  local ddl = ddls[id]
  if ddl and recvN < tonumber(ddl) and toks[id] == callTok then
    out[#out + 1] = 0 -- stored by this very call, whose reply was lost
    toks[id] = nil -- a second copy in this batch is a duplicate
  elseif ddl and recvN < tonumber(ddl) then
    dupInc[#dupInc + 1] = meta
    out[#out + 1] = 1
  else
    -- Past the window the event is stored afresh, replacing the old one.
    if ddl then dropEvent(id) end
    local newDdl = fmtms(recvN + win)
    local dueAt = recv
    if lead > 0 then dueAt = fmtms(recvN - lead) end
    -- A new delivery's fields that equal their defaults are left out (a
    -- field written costs Redis time on every Put): attempts (at) 0, lease
    -- token (tok) none, created (cr) and next attempt (nx) the receipt
    -- time; dups 0. Readers fill them in.
    local f = {'src', src, 'type', typ, 'subj', subj, 'recv', recv,
      'subs', table.concat(subs, ','), 'body', body, 'n:pending', ns}
    local inLine = false
    for _, sub in ipairs(subs) do
      f[#f + 1] = df(sub, 'st'); f[#f + 1] = 'pending'
      local queueAt = dueAt
      if ordered[sub] then
        inLine = true
        f[#f + 1] = df(sub, 'ord'); f[#f + 1] = 1
        if not placeInLine(id, sub, subj, recv, dueAt) then
          f[#f + 1] = df(sub, 'wt'); f[#f + 1] = 1
          queueAt = WAITING
        end
      end
      zset(due(sub), id, queueAt)
      regs[sub] = true
    end
    if inLine then
      redis.call('HSET', meta, unpack(f))
      hashes[#hashes + 1] = {meta, {'ddl', newDdl, 'pt', callTok}}
    else
      f[#f + 1] = 'ddl'; f[#f + 1] = newDdl
      f[#f + 1] = 'pt'; f[#f + 1] = callTok
      hashes[#hashes + 1] = {meta, f}
    end
    zset(P .. ':i:all', id, recv)
    ddls[id] = newDdl
    toks[id] = nil -- a second copy in this batch is a duplicate
    out[#out + 1] = 0
  end
end

zflush()
local list = {}
for name in pairs(regs) do list[#list + 1] = name end
if #list > 0 then redis.call('SADD', P .. ':r:sub', unpack(list)) end
for _, h in ipairs(hashes) do redis.call('HSET', h[1], unpack(h[2])) end
-- After the hashes: a duplicate within the batch counts on its first
-- copy's hash.
for _, meta in ipairs(dupInc) do redis.call('HINCRBY', meta, 'dups', 1) end
return out
