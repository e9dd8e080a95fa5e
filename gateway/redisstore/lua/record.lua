-- Record records a batch of attempts. ARGV, per attempt, 15 values: id,
-- subscriber, token, outcome status, at ms, duration ns, status code,
-- error, next attempt ms, error text for the stats, the Record call's own
-- id, the response's content type and body excerpt (response: "1" when
-- the attempt has one, else ""), and the dead reason (a few known words,
-- checked by the caller; '' unless dead). Returns per attempt 0 if its
-- lease is lost (nothing recorded), else 1.
--
-- A dead delivery keeps its reason in dr, written with the status in the
-- same HSET (so a re-run writes nothing twice); a redelivery deletes it
-- (redeliver.lua), and readers show it only while the status is dead.
--
-- The delivery keeps the id of the Record call that ended its last lease
-- (rn). The client runs a script again when its reply was lost (a reset
-- connection, a timeout): an attempt that the first run recorded then
-- finds its lease ended, by itself, and answers 1 again rather than a
-- lost lease. Another Record on the same lease is another call: 0.
--
-- All reads come first, failing before any write (as in put.lua), so a
-- batch refused on a read wrote nothing. A write can still fail (a foreign
-- key of the wrong type where a queue or stats key belongs): the event
-- hashes are written before the queues, so what such a failure leaves is
-- an attempt recorded whose queue entry still holds its lease. The
-- delivery then comes due again when the lease ends and is sent once more
-- (at least once); the reverse order could leave a delivery out of its
-- queue with its hash still pending, never to be claimed. An event
-- recorded twice in one batch (deliveries to two subscribers) is read once
-- and its cached fields are updated as the batch goes.
local N = 15
local evs, dvs = {}, {}
local i = 1
while i <= #ARGV do
  local id, sub = ARGV[i], ARGV[i + 1]
  local dk = id .. ':' .. sub
  if not dvs[dk] then
    local r = redis.pcall('HMGET', ev(id), df(sub, 'tok'), df(sub, 'st'), df(sub, 'at'), df(sub, 'hn'),
      'n:pending', 'n:retrying', 'n:delivered', 'n:dead', df(sub, 'ord'), 'subj', df(sub, 'rn'))
    if r.err then return r end
    dvs[dk] = {tok = r[1], st = r[2], at = r[3], hn = r[4], ord = r[9], subj = r[10], rn = r[11]}
    if not evs[id] then
      evs[id] = {pending = r[5], retrying = r[6], delivered = r[7], dead = r[8]}
    end
  end
  i = i + N
end

local out = {}
local stats, statSubs = {}, {}
i = 1
while i <= #ARGV do
  local id, sub, tok, status = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local at, dur, code, err, nxt, errText = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8], ARGV[i + 9]
  local call = ARGV[i + 10]
  local hasResp, ctype, rbody = ARGV[i + 11], ARGV[i + 12], ARGV[i + 13]
  local reason = ARGV[i + 14]
  i = i + N
  local d = dvs[id .. ':' .. sub]
  if d.rn == call then
    out[#out + 1] = 1 -- recorded by this very call, whose reply was lost
  elseif not d.tok or d.tok == '' or d.tok ~= tok then
    out[#out + 1] = 0
  else
    local cnt = evs[id]
    local n = tonumber(d.at or '0') + 1
    local hn = tonumber(d.hn or '0') + 1
    -- History entries are numbered by their place in the history; the
    -- first after a manual redelivery (attempts reset, history kept) is
    -- marked with an 'r' before its number.
    local num = hn
    if n == 1 and hn > 1 then num = 'r' .. hn end
    -- An attempt with a response excerpt is "x<n>|at|dur|code|len(error)|
    -- len(content type)|" then the three texts back to back: the lengths
    -- (in bytes) keep them apart whatever they hold. Without one, the
    -- entry is as it always was, "<n>|at|dur|code|error".
    local entry = num .. '|' .. at .. '|' .. dur .. '|' .. code .. '|' .. err
    if hasResp == '1' then
      entry = 'x' .. num .. '|' .. at .. '|' .. dur .. '|' .. code .. '|' .. #err .. '|' .. #ctype .. '|' .. err .. ctype .. rbody
    end
    local old = d.st
    d.tok, d.st, d.at, d.hn, d.rn = '', status, n, hn, call
    local f = {df(sub, 'tok'), '', df(sub, 'rn'), call, df(sub, 'at'), n, df(sub, 'hn'), hn,
      df(sub, 'h' .. hn), entry,
      df(sub, 'code'), code, df(sub, 'err'), err, df(sub, 'st'), status}

    local st = stats[sub]
    if not st then
      st = {delivered = 0}
      stats[sub] = st
      statSubs[#statSubs + 1] = sub
    end
    if status == 'retrying' then
      -- nx keeps the caller's time; the queue the store's (tokenSkew).
      zset(due(sub), id, fmtms(tonumber(nxt) - tokenSkew(tok)))
      f[#f + 1] = df(sub, 'nx'); f[#f + 1] = nxt
      st.err = errText
      st.errAt = at
    else
      zset(due(sub), id, false)
      f[#f + 1] = df(sub, 'nx'); f[#f + 1] = ''
      if status == 'delivered' then
        st.delivered = st.delivered + 1
        st.ok = at
        st.err = false
      else
        zset(deadz(sub), id, at)
        -- Written even when '' (unknown): never a reason left from before.
        f[#f + 1] = df(sub, 'dr'); f[#f + 1] = reason
        st.err = errText
        st.errAt = at
      end
    end
    moveStatus(old, status, cnt, f)
    retryDelta(old, status, sub)
    redis.call('HSET', ev(id), unpack(f))
    -- An ordered head that ended lets the next of its subject go, due now
    -- on the store's clock.
    if status ~= 'retrying' and d.ord == '1' and d.subj and d.subj ~= '' and
        redis.call('GET', headKey(sub, d.subj)) == id then
      promote(sub, d.subj, fmtms(tonumber(at) - tokenSkew(tok)))
    end
    out[#out + 1] = 1
  end
end

zflush()
retryFlush()
for _, sub in ipairs(statSubs) do
  local st, key = stats[sub], stat(sub)
  if st.delivered > 0 then redis.call('HINCRBY', key, 'delivered', st.delivered) end
  if st.ok then redis.call('HSET', key, 'last_ok', st.ok) end
  if st.err then
    redis.call('HSET', key, 'last_err', st.err, 'last_err_at', st.errAt)
  elseif st.err == false then
    redis.call('HDEL', key, 'last_err')
  end
end
return out
