-- RequeueScan reads one partition's share of a Requeue step: the i:all
-- entries received in the window after the position, oldest first. ARGV:
-- since ms, until ms (excluded), position score ('' from since;
-- excluded), max, subscriber, reset ('1' or '0').
--
-- It reads max entries and then the rest of the last one's millisecond,
-- so that a step always ends on a whole millisecond and the position can
-- be a score alone (entries of one millisecond are few: a request's
-- events share one). Returns {ended, rows...}: ended is 1 when the window
-- has no entry past the last row; a row is {id, score, source, type,
-- subject, body length, skip}, where skip is 1 for an event gone or with
-- a delivery to the subscriber that Requeue leaves alone whatever Accept
-- says (any, without reset; pending or retrying, with it).
local idx = P .. ':i:all'
local since, untilMS, pos = ARGV[1], ARGV[2], ARGV[3]
local max, sub, reset = tonumber(ARGV[4]), ARGV[5], ARGV[6] == '1'
local min = since
if pos ~= '' then min = '(' .. pos end
local r = redis.call('ZRANGEBYSCORE', idx, min, '(' .. untilMS, 'WITHSCORES', 'LIMIT', 0, max)
local ended = 1
if #r == 2 * max then
  ended = 0
  -- The rest of the last millisecond: the entries after the last one read
  -- in the set's own order (found by position, not by comparing ids, which
  -- Lua would do by the server's locale).
  local lastScore, lastID = r[#r], r[#r - 1]
  local ties = redis.call('ZRANGEBYSCORE', idx, lastScore, lastScore, 'WITHSCORES')
  local past = false
  for j = 1, #ties, 2 do
    if past then
      r[#r + 1] = ties[j]
      r[#r + 1] = ties[j + 1]
    elseif ties[j] == lastID then
      past = true
    end
  end
end
local out = {ended}
local st = df(sub, 'st')
for j = 1, #r, 2 do
  local id = r[j]
  local m = redis.call('HMGET', ev(id), 'src', 'type', 'subj', st)
  local skip, blen = 0, 0
  if not m[1] then
    skip = 1
  elseif m[4] and (not reset or m[4] == 'pending' or m[4] == 'retrying') then
    skip = 1
  else
    blen = redis.call('HSTRLEN', ev(id), 'body')
  end
  out[#out + 1] = {id, r[j + 1], m[1] or '', m[2] or '', m[3] or '', blen, skip}
end
return out
