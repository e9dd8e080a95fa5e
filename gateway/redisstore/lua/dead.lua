-- Dead lists a subscriber's dead deliveries, most recently dead first.
-- ARGV: subscriber, limit, reason ('' for any), scan (with a reason, how
-- many of the most recently dead to examine at most). Returns {id,
-- attempts, created, code, error, history, died ms, type, subject, dead
-- reason}.
local sub, limit, reason, scan = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local out = {}
local function row(e, id, died, v)
  out[#out + 1] = {id, v[2], v[3] or v[7], v[4] or '', v[5] or '', history(e, sub, v[6]), died, v[8] or '', v[9] or '', v[10] or ''}
end
local function read(e)
  return redis.call('HMGET', e, df(sub, 'st'), df(sub, 'at'), df(sub, 'cr'), df(sub, 'code'), df(sub, 'err'), df(sub, 'hn'),
    'recv', 'type', 'subj', df(sub, 'dr'))
end
if reason == '' then
  local ids = redis.call('ZREVRANGE', deadz(sub), 0, limit - 1, 'WITHSCORES')
  for k = 1, #ids, 2 do
    local e = ev(ids[k])
    local v = read(e)
    if v[1] == 'dead' then row(e, ids[k], ids[k + 1], v) end
  end
  return out
end
-- With a reason: pages of the dead set, newest first, until the page is
-- full or scan entries were examined. Only the status and reason are read
-- for the entries passed over.
local step = math.min(math.max(limit, 100), scan)
local from = 0
while #out < limit and from < scan do
  local ids = redis.call('ZREVRANGE', deadz(sub), from, math.min(from + step, scan) - 1, 'WITHSCORES')
  for k = 1, #ids, 2 do
    local e = ev(ids[k])
    local m = redis.call('HMGET', e, df(sub, 'st'), df(sub, 'dr'))
    if m[1] == 'dead' and m[2] == reason then
      row(e, ids[k], ids[k + 1], read(e))
      if #out >= limit then break end
    end
  end
  if #ids < 2 * step then break end
  from = from + step
end
return out
