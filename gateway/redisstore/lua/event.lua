-- Event reads one event. ARGV: id. Returns 0 if there is none, else
-- {source, type, subject, received ms, duplicates, body, deliveries...}
-- where a delivery is {subscriber, status, attempts, created, next, code,
-- error, history, waiting on, dead reason}.
local id = ARGV[1]
local e = ev(id)
local m = redis.call('HMGET', e, 'src', 'type', 'subj', 'recv', 'dups', 'subs', 'body')
if not m[4] then return 0 end
local out = {m[1], m[2], m[3], m[4], m[5], m[7] or ''}
for _, sub in ipairs(splitSubs(m[6])) do
  local v = redis.call('HMGET', e, df(sub, 'st'), df(sub, 'at'), df(sub, 'cr'), df(sub, 'nx'),
    df(sub, 'code'), df(sub, 'err'), df(sub, 'hn'), df(sub, 'wt'), df(sub, 'dr'))
  if v[1] then
    local waitingOn = ''
    if v[8] == '1' and m[3] and m[3] ~= '' then waitingOn = redis.call('GET', headKey(sub, m[3])) or '' end
    -- at, cr and nx are absent on a delivery never tried (put.lua).
    out[#out + 1] = {sub, v[1], v[2] or '0', v[3] or m[4], v[4] or m[4], v[5] or '', v[6] or '', history(e, sub, v[7]), waitingOn, v[9] or ''}
  end
end
return out
