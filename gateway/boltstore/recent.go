package boltstore

import "sync"

// recentIDs remembers the ids of the last recentMax events that Put
// stored or found duplicate, first in, first out. Put checks them before
// its read transaction: a Put with an id not among them is taken to be
// new and goes to the write path at once, where a new event always goes,
// so new events do not pay a read transaction too (bbolt allocates a Tx
// of its own for each). A duplicate not among them (an old id) is found
// there, and costs that one write; its replays after it are remembered.
type recentIDs struct {
	mu   sync.Mutex
	m    map[string]struct{}
	ring []string // the ids in m, oldest at next once full
	next int
}

// recentMax bounds the ids remembered (about 1MB with their map).
const recentMax = 1 << 14

func newRecentIDs() *recentIDs {
	return &recentIDs{m: make(map[string]struct{}, recentMax), ring: make([]string, 0, recentMax)}
}

// all reports whether every event's id is remembered.
func (r *recentIDs) all(ids func(i int) string, n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range n {
		if _, ok := r.m[ids(i)]; !ok {
			return false
		}
	}
	return true
}

// add remembers ids, forgetting the oldest past recentMax.
func (r *recentIDs) add(ids func(i int) string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range n {
		id := ids(i)
		if _, ok := r.m[id]; ok {
			continue
		}
		if len(r.ring) < recentMax {
			r.ring = append(r.ring, id)
		} else {
			delete(r.m, r.ring[r.next])
			r.ring[r.next] = id
			r.next = (r.next + 1) % recentMax
		}
		r.m[id] = struct{}{}
	}
}
