-- Redeliver: ARGV id, subscriber ('' for all), now ms, clock mode. Returns
-- -1 if there is no such event, -2 if a delivery is leased, else how many
-- were queued.
local id, sub, now, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', ev(id)) == 0 then return -1 end
local subs = {sub}
if sub == '' then subs = splitSubs(redis.call('HGET', ev(id), 'subs')) end
-- A delivery under an unexpired lease is in a worker's hands: refuse
-- (-2) rather than start a second send beside it. Lease ends are on the
-- store's clock.
local clock = clockNow(mode, now)
for _, s in ipairs(subs) do
  local tok = redis.call('HGET', ev(id), df(s, 'tok'))
  if tok and tok ~= '' then
    local sc = redis.call('ZSCORE', due(s), id)
    if sc and tonumber(sc) > clock then return -2 end
  end
end
local dueAt = redueAt(mode, now)
for _, s in ipairs(subs) do redeliver(id, s, now, dueAt) end
zflush()
return #subs
