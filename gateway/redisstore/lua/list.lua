-- List pages through one index, newest first. ARGV: index key suffix,
-- cursor score (or '+inf'), cursor id ('' for none), limit, then the
-- filters: source, type, subscriber, status ('' for any). Returns up to
-- limit+1 rows {id, source, type, subject, received ms, status}; the extra
-- row only tells that there is a next page. Rows whose event is gone
-- (expired before Sweep ran) are skipped.
local idx = P .. ':' .. ARGV[1]
local maxScore, cid, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
local fsrc, ftyp, fsub, fst = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local cscore = tonumber(maxScore)
local out = {}
local offset, chunk = 0, 256
while #out <= limit do
  local r = redis.call('ZREVRANGEBYSCORE', idx, maxScore, '-inf', 'WITHSCORES', 'LIMIT', offset, chunk)
  if #r == 0 then break end
  for j = 1, #r, 2 do
    local id, score = r[j], tonumber(r[j + 1])
    -- Equal scores come in descending id order; those at or above the
    -- cursor id were on earlier pages.
    if not (cid ~= '' and score == cscore and id >= cid) then
      local m = redis.call('HMGET', ev(id), 'src', 'type', 'subj', 'recv', 'subs',
        'n:pending', 'n:retrying', 'n:delivered', 'n:dead')
      local ok = m[4] ~= false
      if ok and fsrc ~= '' and m[1] ~= fsrc then ok = false end
      if ok and ftyp ~= '' and m[2] ~= ftyp then ok = false end
      if ok and fsub ~= '' then
        local st = redis.call('HGET', ev(id), df(fsub, 'st'))
        if not st or (fst ~= '' and st ~= fst) then ok = false end
      elseif ok and fst == 'unrouted' then
        ok = (m[5] == '')
      elseif ok and fst ~= '' then
        local counts = {pending = m[6], retrying = m[7], delivered = m[8], dead = m[9]}
        ok = tonumber(counts[fst] or '0') > 0
      end
      if ok then
        out[#out + 1] = {id, m[1], m[2], m[3], m[4], summary(m[6], m[7], m[8], m[9])}
        if #out > limit then break end
      end
    end
  end
  offset = offset + chunk
end
return out
