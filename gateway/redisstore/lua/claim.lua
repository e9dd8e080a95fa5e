-- Claim leases due deliveries. ARGV: subscriber, caller's now ms, max,
-- lease ms, token prefix, clock mode, and with a rate limit its rate per
-- second and burst ('' when none). Returns {orphans, wait ms, claims...}
-- where a claim is {id, attempts, created ms, body, token}.
--
-- With a rate limit (a store of one partition, whose bucket shares its
-- tag), each lease takes a token from the subscriber's bucket in this same
-- step: a due delivery that finds none stays queued, no attempt spent,
-- and wait says when the next token comes (0 when none ran short).
--
-- The token prefix is new for each call the store makes; a call that
-- leases anything leaves the ids it leased in cl:<sub>:<prefix>, for as
-- long as the lease. The client runs a call again when its reply was lost
-- (a reset connection, a timeout): the run that finds its own key answers
-- what the first run leased (those still under its lease) instead of
-- leasing more, which would leave the first run's leases unused until
-- they expire.
--
-- The paused flag is read here, in the step that leases, so that once
-- SetPaused has answered no gateway leases the subscriber's work. A queue
-- entry whose event is gone (deleted outside hookgate) or unreadable (a
-- key of another type written in its place) is dropped and counted, never
-- delivered, so that the rest of the queue flows.
local sub, callerNow, max, lease, tokp, mode = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
local rate, burst = tonumber(ARGV[7] or ''), tonumber(ARGV[8] or '')
local fst, fat, fcr, ftok = df(sub, 'st'), df(sub, 'at'), df(sub, 'cr'), df(sub, 'tok')
local clKey = P .. ':cl:' .. sub .. ':' .. tokp
local leasedBefore = redis.call('GET', clKey)
if leasedBefore then
  local out = {0, 0}
  local mine = tokp .. '.'
  for id in string.gmatch(leasedBefore, '[^\n]+') do
    local v = redis.pcall('HMGET', ev(id), fst, fat, fcr, 'body', 'recv', ftok)
    if not v.err and v[4] and v[6] and string.sub(v[6], 1, #mine) == mine then
      out[#out + 1] = {id, v[2] or '0', v[3] or v[5], v[4], v[6]}
    end
  end
  return out
end
if redis.call('SISMEMBER', P .. ':paused', sub) == 1 then return {0, 0} end
local now = clockNow(mode, callerNow)
local q = due(sub)
local leaseEnd = fmtms(now + lease)
local tokSkew = '~' .. fmtms(callerNow - now)
local ids = redis.call('ZRANGEBYSCORE', q, '-inf', fmtms(now), 'LIMIT', 0, max)
local out = {0, 0}
local bkey, tokens, bat
if rate and #ids > 0 then
  bkey = bucketKey(P, sub)
  tokens, bat = bucketRead(bkey, rate, burst, now)
end
local leased = {}
for n, id in ipairs(ids) do
  local e = ev(id)
  -- at and cr are absent on a delivery never tried (put.lua): 0 and the
  -- receipt time.
  local v = redis.pcall('HMGET', e, fst, fat, fcr, 'body', 'recv')
  if v.err or not v[1] or not v[4] then
    zset(q, id, false)
    out[1] = out[1] + 1
  elseif bkey and tokens < 1 then
    out[2] = bucketWait(tokens, rate)
    break
  else
    if bkey then tokens = tokens - 1 end
    local tok = tokp .. '.' .. n .. tokSkew
    redis.call('HSET', e, ftok, tok)
    zset(q, id, leaseEnd)
    out[#out + 1] = {id, v[2] or '0', v[3] or v[5], v[4], tok}
    leased[#leased + 1] = id
  end
end
if #leased > 0 then redis.call('SET', clKey, table.concat(leased, '\n'), 'PX', lease) end
zflush()
if bkey then bucketWrite(bkey, tokens, bat, rate, burst) end
return out
