package boltstore

import (
	"strconv"
	"sync"
	"time"
)

// Leases live in memory, not in the file. The file has one process (bbolt
// locks it), so this process's table is the only one there is; and a lease
// is worth nothing after a crash, when whatever it held should be due
// again at once. Keeping them here spares Claim a commit and its fsyncs:
// it is a read transaction and a table update, and only Record and
// Release, which change what a delivery is, commit.
//
// The table and the file are kept in step by ownership: a write
// transaction that is about to change a delivery takes its entry (owner
// set) before it commits and gives it up only once the commit is done or
// failed. Claim, under the same mutex, skips owned entries, so it never
// leases a delivery from a snapshot that a commit in progress is about to
// make stale; and once an entry is given up, any later Claim's read
// transaction already sees that commit.
type leaseTable struct {
	mu    sync.Mutex
	m     map[string]*lease // by leaseKey
	seq   uint64            // last token issued
	calls uint64            // last write call id issued
}

// lease is one delivery's entry.
type lease struct {
	token string    // "" for a fence: no one holds it
	until time.Time // when an unowned lease expires
	owner uint64    // the write call changing this delivery, 0 if none
}

// leaseCall is one write call's claim on table entries: the deliveries it
// records, releases or resets. A group commit may run its function more
// than once; ownership taken on an earlier run is still its own.
type leaseCall struct {
	tab    *leaseTable
	id     uint64
	taken  []string // leases this call is ending
	fenced []string // deliveries this call resets or deletes
}

func newLeaseTable() *leaseTable { return &leaseTable{m: map[string]*lease{}} }

// newCall starts a write call.
func (lt *leaseTable) newCall() *leaseCall {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	lt.calls++
	return &leaseCall{tab: lt, id: lt.calls}
}

// freeBytes reports whether the delivery under key may be leased at now;
// key is a leaseKey held in a byte slice, looked up without allocating.
func (lt *leaseTable) freeBytes(key []byte, now time.Time) bool { return lt.m[string(key)].free(now) }

// free reports whether l (nil: no entry) lets its delivery be leased at
// now: none, or expired and owned by no write call.
func (l *lease) free(now time.Time) bool {
	return l == nil || (l.owner == 0 && !l.until.After(now))
}

// fenceUnlessHeld fences every key in keys (see fence), or none of them
// if any is in someone's hands at now: leased and not expired, or owned
// by another write call. It is one step under the table's mutex, so that
// no Claim can lease a delivery between the check and its fence; a check
// and a fence taken apart would let a Claim slip in between, and the
// reset would then send a delivery that a worker is already sending.
// This call's own entries do not count as held.
func (c *leaseCall) fenceUnlessHeld(keys []string, now time.Time) bool {
	c.tab.mu.Lock()
	defer c.tab.mu.Unlock()
	for _, key := range keys {
		l := c.tab.m[key]
		if l == nil || l.owner == c.id || l.token == "" && l.owner == 0 {
			continue
		}
		if l.owner != 0 || l.until.After(now) {
			return false
		}
	}
	for _, key := range keys {
		c.fenceLocked(key)
	}
	return true
}

// barrier returns once no Claim that started before it is still leasing.
// Claim leases under the mutex from one read transaction, so after a
// commit and a barrier every Claim reads that commit (SetPaused).
func (lt *leaseTable) barrier() {
	lt.mu.Lock()
	defer lt.mu.Unlock()
}

// grant leases the delivery under key until until, replacing an expired
// lease, and returns the new token. Callers hold mu.
func (lt *leaseTable) grant(key string, until time.Time) string {
	lt.seq++
	tok := strconv.FormatUint(lt.seq, 36)
	lt.m[key] = &lease{token: tok, until: until}
	return tok
}

// take makes c the owner of the lease token under key, for a Record or
// Release; false if token is not that delivery's current lease or another
// call is already ending it.
func (c *leaseCall) take(key, token string) bool {
	c.tab.mu.Lock()
	defer c.tab.mu.Unlock()
	l := c.tab.m[key]
	if l == nil || token == "" || l.token != token || (l.owner != 0 && l.owner != c.id) {
		return false
	}
	if l.owner == 0 {
		l.owner = c.id
		c.taken = append(c.taken, key)
	}
	return true
}

// fence makes c the owner of the entry under key whatever it held: the
// delivery is being reset or deleted, so its lease, if any, is lost, and
// no one may lease it until c's transaction is over.
func (c *leaseCall) fence(key string) {
	c.tab.mu.Lock()
	defer c.tab.mu.Unlock()
	c.fenceLocked(key)
}

// fenceLocked is fence for callers holding mu.
func (c *leaseCall) fenceLocked(key string) {
	c.tab.m[key] = &lease{owner: c.id}
	c.fenced = append(c.fenced, key)
}

// finish gives up c's entries once its transaction is over. A lease taken
// by a committed Record or Release has ended; one whose commit failed is
// the holder's again (it may retry). Fences go either way: the lease they
// replaced is lost even if their transaction failed, which at worst sends
// a delivery twice.
func (c *leaseCall) finish(committed bool) {
	c.tab.mu.Lock()
	defer c.tab.mu.Unlock()
	for _, k := range c.fenced {
		if l := c.tab.m[k]; l != nil && l.owner == c.id {
			delete(c.tab.m, k)
		}
	}
	for _, k := range c.taken {
		switch l := c.tab.m[k]; {
		case l == nil || l.owner != c.id:
		case committed:
			delete(c.tab.m, k)
		default:
			l.owner = 0
		}
	}
}

// prune drops expired leases no call owns: those whose holder never came
// back (their delivery is due again anyway, and may be gone).
func (lt *leaseTable) prune(now time.Time) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	for k, l := range lt.m {
		if l.owner == 0 && !l.until.After(now) {
			delete(lt.m, k)
		}
	}
}
