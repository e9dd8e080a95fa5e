-- Duplicates counters: ARGV is pairs of an event id and how many
-- duplicates of it a gateway recognized (put.lua answered 1) since its
-- last call. Each is added to the event's dups; an event gone meanwhile
-- (swept) is skipped, not recreated. Not re-run-safe: go-redis runs a
-- call again when its reply is lost (a read timeout, a reset: MaxRetries),
-- and the tally writes counts again after a failed call, so a lost reply
-- can count a duplicate more than once. The count is for operators.
for i = 1, #ARGV, 2 do
  local e = ev(ARGV[i])
  if redis.call('EXISTS', e) == 1 then redis.call('HINCRBY', e, 'dups', ARGV[i + 1]) end
end
return 0
