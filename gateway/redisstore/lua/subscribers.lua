-- Subscribers names, unsorted, every subscriber ever given a delivery (the
-- r:sub registry, written by Put and Redeliver) that still has one queued
-- or dead.
local out = {}
for _, sub in ipairs(redis.call('SMEMBERS', P .. ':r:sub')) do
  if redis.call('ZCARD', due(sub)) > 0 or redis.call('ZCARD', deadz(sub)) > 0 then
    out[#out + 1] = sub
  end
end
return out
