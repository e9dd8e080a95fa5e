-- List pages through i:all, newest first, in (score, id) descending
-- order, which is the index's own, and tests each event's hash against the
-- filters: there is no index per source, type, subscriber or status, so
-- that a stored event and a status change cost no index writes. ARGV:
-- cursor score ('' for the newest), cursor id, limit, budget, then the
-- filters: source, type, subscriber, status, subject ('' for any), then
-- match bytes: 0, or the body bytes a search (EventFilter.Match) may read.
--
-- A call costs the same at any depth and examines at most budget index
-- entries: it finds the cursor's rank (ZREVRANK, or ZCOUNT above its score
-- when the cursor's entry has left the index, then skipping the entries
-- tied with its score that come before it), then reads on by rank. It
-- returns {stop score, stop id, rows}: up to limit+1 rows {id, source,
-- type, subject, received ms, status, deliveries}, deliveries being
-- {subscriber, status, ...} for each of the event's deliveries, read for
-- the rows returned only (an extra row only tells that there
-- is more), and, when the budget ran out first, the last entry examined,
-- to go on from; stop score is '' when the index ended or the page filled.
-- Rows whose event is gone (deleted outside hookgate, before Sweep
-- reached its entry) are skipped. The reply goes on with the number of
-- entries examined and the score of the last ('' when none was).
--
-- With match bytes, the caller judges the rows (by their bodies, which it
-- reads itself), so every row that passes the filters is returned, with
-- its body's length as an 8th field, until the budget runs out or the
-- lengths reach match bytes; either way the stop is the last entry
-- examined.
local idx = P .. ':i:all'
local cscore, cid, limit, budget = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local fsrc, ftyp, fsub, fst, fsubj = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local mbytes = tonumber(ARGV[10]) or 0

local pos, skipping = 0, false
if cscore then
  local sc = redis.call('ZSCORE', idx, cid)
  if sc and tonumber(sc) == cscore then
    pos = redis.call('ZREVRANK', idx, cid) + 1
  else
    pos = redis.call('ZCOUNT', idx, '(' .. ARGV[1], '+inf')
    skipping = true
  end
end

-- The fields read per entry: the row, the status counts, and with a
-- subscriber filter that delivery's status (m[10]).
local fields = {'src', 'type', 'subj', 'recv', 'subs', 'n:pending', 'n:retrying', 'n:delivered', 'n:dead'}
if fsub ~= '' then fields[#fields + 1] = df(fsub, 'st') end

local function matches(m)
  if not m[4] then return false end
  if fsrc ~= '' and m[1] ~= fsrc then return false end
  if ftyp ~= '' and m[2] ~= ftyp then return false end
  if fsubj ~= '' and m[3] ~= fsubj then return false end
  if fsub ~= '' then
    local st = m[10]
    return st and (fst == '' or st == fst)
  elseif fst == 'unrouted' then
    return m[5] == ''
  elseif fst ~= '' then
    local counts = {pending = m[6], retrying = m[7], delivered = m[8], dead = m[9]}
    return tonumber(counts[fst] or '0') > 0
  end
  return true
end

-- deliveries is the status of each of the event's deliveries, as
-- {subscriber, status, ...}: one more read per row returned, none per
-- row passed over.
local function deliveries(id, subs)
  local names, fs, sts = splitSubs(subs), {}, {}
  for i, sub in ipairs(names) do fs[i] = df(sub, 'st') end
  -- unpack is bounded by the Lua stack: read in slices.
  for s = 1, #fs, 1000 do
    for _, st in ipairs(redis.call('HMGET', ev(id), unpack(fs, s, math.min(s + 999, #fs)))) do sts[#sts + 1] = st end
  end
  local out = {}
  for i, sub in ipairs(names) do
    if sts[i] then
      out[#out + 1] = sub
      out[#out + 1] = sts[i]
    end
  end
  return out
end

local rows, examined, ended, full = {}, 0, false, false
local lastScore, lastID
local size = 0
-- The first read is what the page needs if every entry matches; the
-- filter is selective if more are needed, so those reads are larger.
local want = math.max(16, limit + 1)
while (mbytes > 0 or #rows <= limit) and examined < budget and not full do
  local n = math.min(budget - examined, 256, want)
  want = 256
  local r = redis.call('ZREVRANGE', idx, pos, pos + n - 1, 'WITHSCORES')
  pos = pos + n
  for j = 1, #r, 2 do
    local id, score = r[j], tonumber(r[j + 1])
    examined = examined + 1
    lastScore, lastID = score, id
    -- Entries tied with the cursor's score come in descending id order;
    -- those at or above its id were on earlier pages.
    if skipping and score == cscore and id >= cid then
      -- skip
    else
      skipping = false
      local m = redis.call('HMGET', ev(id), unpack(fields))
      if matches(m) then
        local row = {id, m[1], m[2], m[3], m[4], summary(m[6], m[7], m[8], m[9]), deliveries(id, m[5])}
        rows[#rows + 1] = row
        if mbytes > 0 then
          row[8] = redis.call('HSTRLEN', ev(id), 'body')
          size = size + row[8]
          if size >= mbytes then
            full = true
            break
          end
        elseif #rows > limit then
          break
        end
      end
    end
  end
  if full then break end
  if #r < 2 * n then
    ended = true
    break
  end
end
local last = ''
if lastID then last = fmtms(lastScore) end
if ended or (mbytes == 0 and #rows > limit) or not lastID then return {'', '', rows, examined, last} end
return {fmtms(lastScore), lastID, rows, examined, last}
