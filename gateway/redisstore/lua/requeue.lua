-- Requeue queues the accepted events of one Requeue step in one
-- partition. ARGV: subscriber, now ms (the caller's), reset ('1' or '0'),
-- since ms, until ms (excluded), clock mode, ordered ('1' or '0'), then
-- the event ids. Returns
-- how many deliveries it created or reset.
--
-- Each event is checked again, as it may have changed since the scan: one
-- gone or stored afresh outside the window is passed over, and so is a
-- delivery that Requeue leaves alone (any, without reset; pending or
-- retrying, with it). Delivered and dead deliveries hold no lease (Record
-- clears it), so none is taken from a worker. A queued delivery is
-- created at now and due at its event's receipt time, no later than now,
-- moved onto the store's clock by the caller's lead over it (as put.lua
-- does), so that claims take them in receipt order.
local sub, now, reset = ARGV[1], ARGV[2], ARGV[3] == '1'
local since, untilMS, mode, ordered = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7] == '1'
local nowN = tonumber(now)
local lead = 0
if mode == 's' then lead = math.max(0, nowN - serverMS()) end
local st = df(sub, 'st')
local n = 0
for i = 8, #ARGV do
  local id = ARGV[i]
  local m = redis.call('HMGET', ev(id), 'recv', st, 'subj')
  local recv = tonumber(m[1] or '')
  if recv and recv >= since and recv < untilMS and
      (not m[2] or (reset and (m[2] == 'delivered' or m[2] == 'dead'))) then
    local dueAt = fmtms(math.min(recv, nowN) - lead)
    redeliver(id, sub, now, dueAt)
    -- An ordered subscriber's deliveries take their place in their
    -- subject's line, in receipt order.
    if ordered and m[3] and m[3] ~= '' then joinLine(id, sub, m[3], m[1], dueAt) end
    n = n + 1
  end
end
zflush()
return n
