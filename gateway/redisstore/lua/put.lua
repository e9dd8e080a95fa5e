-- Put stores a batch of events. ARGV: dedupe window ms, event TTL ms,
-- dedupe-key TTL ms, then per event: id, source, type, subject, received ms,
-- body, number of subscribers, the subscribers. Returns 1 per duplicate
-- event, 0 per stored one.
local win, ttl, dttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
local i = 4
while i <= #ARGV do
  local id, src, typ, subj = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  -- recv stays the decimal string it came as for storing; recvN compares.
  local recv, body, ns = ARGV[i + 4], ARGV[i + 5], tonumber(ARGV[i + 6])
  local recvN = tonumber(recv)
  local subs = {}
  for j = 1, ns do subs[j] = ARGV[i + 6 + j] end
  i = i + 7 + ns

  local dk = P .. ':dd:' .. id
  local deadline = tonumber(redis.call('GET', dk) or '-1')
  if recvN < deadline then
    if redis.call('EXISTS', ev(id)) == 1 then redis.call('HINCRBY', ev(id), 'dups', 1) end
    out[#out + 1] = 1
  else
    -- Past the window the event is stored afresh, replacing the old one.
    if redis.call('EXISTS', ev(id)) == 1 then dropEvent(id) end
    redis.call('SET', P .. ':b:' .. id, body, 'PX', ttl)
    redis.call('HSET', ev(id), 'src', src, 'type', typ, 'subj', subj, 'recv', recv, 'dups', 0,
      'subs', table.concat(subs, ','))
    redis.call('PEXPIRE', ev(id), ttl)
    redis.call('SET', dk, string.format('%.0f', recvN + win), 'PX', dttl)
    redis.call('ZADD', P .. ':i:all', recv, id)
    redis.call('ZADD', P .. ':i:src:' .. src, recv, id)
    redis.call('ZADD', P .. ':i:type:' .. typ, recv, id)
    redis.call('SADD', P .. ':r:src', src)
    redis.call('SADD', P .. ':r:type', typ)
    if ns == 0 then redis.call('ZADD', P .. ':i:st:unrouted', recv, id) end
    for _, sub in ipairs(subs) do
      local d = dv(id, sub)
      redis.call('HSET', d, 'status', 'pending', 'attempts', 0, 'created', recv, 'next', recv, 'tok', '')
      redis.call('PEXPIRE', d, ttl)
      redis.call('ZADD', due(sub), recv, id)
      redis.call('ZADD', P .. ':i:sub:' .. sub, recv, id)
      redis.call('SADD', P .. ':r:sub', sub)
      setStatus(id, sub, recv, nil, 'pending')
    end
    out[#out + 1] = 0
  end
end
return out
