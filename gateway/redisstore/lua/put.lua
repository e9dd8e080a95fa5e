-- Put stores a batch of events. ARGV: dedupe window ms, clock mode,
-- tombstone window ms (0: none), then per event: id, the token of the Put
-- call it came in, source, type, subject, received ms, body, number of
-- subscribers, the subscribers, number of ordered ones, the ordered ones.
-- Returns per event 0 when stored, 1 for a duplicate whose event is
-- stored (the caller counts it on the event: dups.lua), 2 for one known
-- by its tombstone alone.
--
-- Duplicates. An id is a duplicate within its dedupe window (ddl); with
-- tombstones, also past it while its event is retained, and after
-- retention by its tombstone (common.lua). A duplicate writes nothing:
-- its counter is the caller's to write, later, with others; so a batch
-- of duplicates alone returns without a write, which costs Redis no AOF
-- write and its replicas nothing.
--
-- Re-runs. The token is new for each Put call, and each event stored
-- keeps its call's (pt). The client runs a script again when its reply
-- was lost (a reset connection, a timeout), and the store runs the calls
-- of a refused batch again one by one: an event that an earlier run
-- stored then has its own call's token, and is answered stored again,
-- not a duplicate, so that ingest counts it and wakes its dispatchers;
-- the copies of it later in the batch were counted by that run already.
-- A provider's retry is a new call, with a new token: a duplicate.
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
-- A script that errors half way keeps what it wrote. Were an event's hash,
-- which holds its dedupe deadline, kept without its queue entries, the
-- caller's 503 would be followed by the provider's retry answered as a
-- duplicate, and the delivery would never be queued. So every key the
-- batch writes is read or type-checked first, failing before any write
-- (a foreign key of the wrong type); and the hashes are written last, so
-- that a failure of the writes themselves (a bug) leaves at most queue
-- entries without their event, which Claim drops and counts. An event
-- with an ordered delivery has its hash written at once (the line of its
-- subject reads and flags the heads' hashes as the batch goes), and only
-- its dedupe deadline at the end.
local win, mode, twin = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local regs = {}

-- keyIs fails the script, before any write, when key holds another type
-- than want (or none).
local function keyIs(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    return redis.error_reply('WRONGTYPE hookgate key ' .. key .. ' holds a ' .. t .. ', not a ' .. want)
  end
end

-- An event's fields start at ARGV[i] (the first at 4): id i, token i+1, source i+2, type
-- i+3, subject i+4, received i+5, body i+6, ns i+7, the subscribers from
-- i+8, no at i+8+ns, the ordered ones after it; the next event at
-- i+9+ns+no. The batch is read in place, twice: a table per event would
-- cost Redis more than the reading does.

-- First, read every event's dedupe deadline (and, without one, its
-- tombstone) and check every key written, failing before any write.
local ddls, toks, tombs = {}, {}, {}
local newest
local queues, lines = {}, {}
local i = 4
while i <= #ARGV do
  local id, subj = ARGV[i], ARGV[i + 4]
  local r = redis.pcall('HMGET', ev(id), 'ddl', 'pt')
  if r.err then return r end
  ddls[id], toks[id] = r[1], r[2]
  local recv = tonumber(ARGV[i + 5])
  if twin > 0 and not r[1] then
    local found, err = tombstoned(id, recv, twin)
    if err then return err end
    tombs[id] = found
  end
  if not newest or recv > newest then newest = recv end
  local ns = tonumber(ARGV[i + 7])
  for j = 1, ns do queues[ARGV[i + 7 + j]] = true end
  local no = tonumber(ARGV[i + 8 + ns])
  if subj ~= '' then
    for j = 1, no do
      local sub = ARGV[i + 8 + ns + j]
      lines[sub .. '\n' .. subj] = {sub, subj}
    end
  end
  i = i + 9 + ns + no
end
for sub in pairs(queues) do
  local err = keyIs(due(sub), 'zset')
  if err then return err end
end
for _, l in pairs(lines) do
  local err = keyIs(headKey(l[1], l[2]), 'string') or keyIs(lineKey(l[1], l[2]), 'zset')
  if err then return err end
end
local err = keyIs(P .. ':i:all', 'zset') or keyIs(P .. ':r:sub', 'set') or
  (next(lines) and keyIs(P .. ':wseq', 'string'))
if err then return err end

local lead = 0
if mode == 's' and newest then lead = math.max(0, newest - serverMS()) end

local out = {}
local hashes = {}
i = 4
while i <= #ARGV do
  local id, tok, src, typ, subj = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  -- recv stays the decimal string it came as for storing; recvN compares.
  local recv, body, ns = ARGV[i + 5], ARGV[i + 6], tonumber(ARGV[i + 7])
  local recvN = tonumber(recv)
  local first = i + 8 -- of the subscribers
  local no = tonumber(ARGV[i + 8 + ns])
  local ordered = {}
  if subj ~= '' then
    for j = 1, no do ordered[ARGV[i + 8 + ns + j]] = true end
  end
  i = i + 9 + ns + no

  local meta = ev(id)
  local ddl = ddls[id]
  -- Recognized by its event: within the window, or retained past it.
  local known = ddl and (recvN < tonumber(ddl) or twin > 0)
  if known and toks[id] == tok then
    out[#out + 1] = 0 -- stored by an earlier run of this call
    toks[id] = nil
  elseif known then
    -- Counted by the caller, once per copy in its batch: an earlier run
    -- of this call whose reply was lost counted nothing.
    out[#out + 1] = 1
  elseif tombs[id] then
    out[#out + 1] = 2
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
      'subs', table.concat(ARGV, ',', first, first + ns - 1), 'body', body, 'n:pending', ns}
    local inLine = false
    for j = first, first + ns - 1 do
      local sub = ARGV[j]
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
      hashes[#hashes + 1] = {meta, {'ddl', newDdl, 'pt', tok}}
    else
      f[#f + 1] = 'ddl'; f[#f + 1] = newDdl
      f[#f + 1] = 'pt'; f[#f + 1] = tok
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
return out
