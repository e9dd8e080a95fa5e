package boltstore

import (
	"bytes"
	"encoding/binary"
	"time"
)

// Bucket names. Top-level buckets hold records; the index buckets hold
// nested buckets (one per subscriber, source, type or status) whose keys are
// ordered so that each query is a cursor seek, and whose values are empty.
var (
	bktMeta       = []byte("meta")       // "version" -> schema version
	bktEvents     = []byte("events")     // eventKey -> eventRec
	bktDeliveries = []byte("deliveries") // eventKey \x00 sub -> deliveryRec
	bktHistory    = []byte("history")    // eventKey \x00 sub \x00 seq(4) -> attempt
	bktDue        = []byte("due")        // sub / time(8) eventID: queued deliveries, leased or not
	bktDead       = []byte("dead")       // sub / deadAt(8) eventID
	bktIDs        = []byte("ids")        // eventID -> idEntry: dedupe deadline(8), receipt time(8)
	bktDedupeExp  = []byte("dedupe_exp") // deadline(8) eventID: what Sweep forgets
	bktTombs      = []byte("tombs")      // generation(8) / tombHash(8) -> "": ids of removed events (tombs.go)
	bktStats      = []byte("stats")      // sub -> statsRec
	bktPaused     = []byte("paused")     // sub -> gateway.PauseReason (older files: the byte 1)
	bktOrder      = []byte("order")      // sub \x00 subject -> the event id of the line's head (ordering.go)
	bktLine       = []byte("line")       // sub \x00 subject \x00 time(8) eventID: ordered deliveries waiting, in the order stored
	bktList       = []byte("list")       // the listing indexes below, all by received time(8) eventID
	bktListAll    = []byte("all")        // every event; Sweep walks it oldest first
	bktListSrc    = []byte("src")        // source / ...
	bktListType   = []byte("type")       // type / ...
	bktListSub    = []byte("sub")        // sub / ...: events with a delivery to sub
	bktListStatus = []byte("status")     // status / ...: events with a delivery in status (unrouted: none); listedStatuses only
	bktListSubSt  = []byte("substatus")  // sub \x00 status / ...: events whose delivery to sub is in status; listedStatuses only

	topBuckets = [][]byte{bktMeta, bktEvents, bktDeliveries, bktHistory, bktDue, bktDead,
		bktIDs, bktDedupeExp, bktStats, bktPaused, bktList, bktOrder, bktLine, bktTombs}
	listBuckets = [][]byte{bktListAll, bktListSrc, bktListType, bktListSub, bktListStatus, bktListSubSt}
)

// schemaVersion is written on creation; Open migrates a version 3 file
// (dropUnlistedStatuses) and a version 4 one (countRetrying), and refuses
// any other version rather than misreading it. (Versions 1 and 2 were
// development layouts that never shipped; the first release wrote "3",
// which listed every status; "4" did not count retrying deliveries.)
const schemaVersion = "5"

// timeBits maps a time to an unsigned number whose big-endian bytes sort as
// the times do. The zero time maps to 0 (before everything) because
// time.Time{}.UnixNano overflows.
func timeBits(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano()) ^ (1 << 63)
}

// bitsTime undoes timeBits; times come back in UTC.
func bitsTime(v uint64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(v^(1<<63))).UTC()
}

// timeKey is an index key: the time, then the event id, so that entries of
// one instant still differ and sort by id.
func timeKey(t time.Time, eventID string) []byte {
	k := make([]byte, 8, 8+len(eventID))
	binary.BigEndian.PutUint64(k, timeBits(t))
	return append(k, eventID...)
}

// splitTimeKey undoes timeKey.
func splitTimeKey(k []byte) (time.Time, string) {
	if len(k) < 8 {
		return time.Time{}, ""
	}
	return bitsTime(binary.BigEndian.Uint64(k)), string(k[8:])
}

// eventKey is an event's key in the deliveries and history buckets: its
// receipt time, then its id (a timeKey, the same as its listing key). The
// ids are hashes, so keying these by id alone scattered every commit's
// writes over the whole tree; keyed by receipt time, the deliveries a
// commit creates or updates sit together, and the commit writes a few
// pages instead of one or two per event.
func eventKey(recv time.Time, eventID string) []byte { return timeKey(recv, eventID) }

// deliveryKey names one event's delivery to one subscriber. Ids and names
// never hold a NUL and the time prefix has a fixed length, so an event's
// deliveries share the prefix eventKey\x00 and come out sorted by
// subscriber.
func deliveryKey(ek []byte, sub string) []byte {
	k := make([]byte, 0, len(ek)+1+len(sub))
	k = append(k, ek...)
	k = append(k, 0)
	return append(k, sub...)
}

// deliveryPrefix is the common prefix of an event's delivery keys.
func deliveryPrefix(ek []byte) []byte {
	return append(append(make([]byte, 0, len(ek)+1), ek...), 0)
}

// historyKey names the seq-th (1-based) recorded attempt of a delivery.
func historyKey(ek []byte, sub string, seq uint32) []byte {
	k := append(deliveryKey(ek, sub), 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(k[len(k)-4:], seq)
	return k
}

// historyPrefix is the common prefix of a delivery's history keys.
func historyPrefix(ek []byte, sub string) []byte {
	return append(deliveryKey(ek, sub), 0)
}

// leaseKey names a delivery in the in-memory lease table.
func leaseKey(eventID, sub string) string { return eventID + "\x00" + sub }

// appendLeaseKey appends leaseKey(eventID, sub) to b.
func appendLeaseKey(b, eventID []byte, sub string) []byte {
	b = append(b, eventID...)
	b = append(b, 0)
	return append(b, sub...)
}

// subStatusName names a subscriber+status listing bucket.
func subStatusName(sub string, st string) []byte {
	return []byte(sub + "\x00" + st)
}

// hasPrefix is bytes.HasPrefix, named for the cursor loops.
func hasPrefix(k, prefix []byte) bool { return k != nil && bytes.HasPrefix(k, prefix) }

// u64 encodes v big-endian.
func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
