-- Redeliver: ARGV id, subscriber ('' for all), now ms. Returns -1 if there
-- is no such event, else how many deliveries were queued.
local id, sub, now = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', ev(id)) == 0 then return -1 end
local subs = {sub}
if sub == '' then subs = splitSubs(redis.call('HGET', ev(id), 'subs')) end
for _, s in ipairs(subs) do redeliver(id, s, now) end
zflush()
return #subs
