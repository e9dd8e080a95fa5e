-- Duplicates counters: ARGV is pairs of an event id and how many
-- duplicates of it a gateway recognized (put.lua answered 1) since its
-- last call. Each is added to the event's dups; an event gone meanwhile
-- (swept) is skipped, not recreated. Not re-run-safe by design: a lost
-- reply is not retried (the count is for operators, and a second run
-- would count twice).
for i = 1, #ARGV, 2 do
  local e = ev(ARGV[i])
  if redis.call('EXISTS', e) == 1 then redis.call('HINCRBY', e, 'dups', ARGV[i + 1]) end
end
return 0
