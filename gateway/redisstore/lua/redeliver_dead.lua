-- RedeliverDead, one batch: ARGV subscriber, now ms, batch size, clock
-- mode. Returns {queued, looked at}; the caller repeats while a full batch
-- was looked at.
local sub, now, batch, mode = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local dueAt = redueAt(mode, now)
local ids = redis.call('ZRANGE', deadz(sub), 0, batch - 1)
local n = 0
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ev(id)) == 1 then
    redeliver(id, sub, now, dueAt)
    n = n + 1
  else
    zset(deadz(sub), id, false)
  end
end
zflush()
return {n, #ids}
