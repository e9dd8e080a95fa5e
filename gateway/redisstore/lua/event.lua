-- Event reads one event. ARGV: id. Returns 0 if there is none, else
-- {source, type, subject, received ms, duplicates, body, deliveries...}
-- where a delivery is {subscriber, status, attempts, created, next, code,
-- error, history}.
local id = ARGV[1]
local m = redis.call('HMGET', ev(id), 'src', 'type', 'subj', 'recv', 'dups', 'subs', 'body')
if not m[4] then return 0 end
local out = {m[1], m[2], m[3], m[4], m[5], m[7] or ''}
for _, sub in ipairs(splitSubs(m[6])) do
  local v = redis.call('HMGET', dv(id, sub), 'status', 'attempts', 'created', 'next', 'code', 'err')
  if v[1] then
    out[#out + 1] = {sub, v[1], v[2], v[3], v[4] or '', v[5] or '', v[6] or '',
      redis.call('LRANGE', hist(id, sub), 0, -1)}
  end
end
return out
