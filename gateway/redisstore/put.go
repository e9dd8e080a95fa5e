package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
)

// Put coalescing: concurrent Put calls are gathered by a few writer
// goroutines and sent as one script call, so that under load one round trip
// (and one fsync, with appendfsync always) stores many requests' events.
const (
	// putWriters is how many batches may be in flight at once. Redis runs
	// scripts one at a time, so more writers only make smaller batches;
	// two let one batch gather while the other is written (measured best of
	// 1, 2, 4, 8, 16).
	putWriters     = 2
	maxBatchEvents = 512     // events per script call
	maxBatchBytes  = 4 << 20 // body bytes per script call (one larger event goes alone)
)

// putCall is one Put waiting for a writer.
type putCall struct {
	events []gateway.NewEvent
	tok    string // this call's, kept by the events it stores (put.lua)
	ctx    context.Context
	res    []gateway.PutResult
	done   chan error // buffered: the writer never blocks on a caller gone
}

// Put stores the events, each with its deliveries, atomically per event;
// it returns once Redis has replied. Calls made at the same moment share
// one script call.
func (s *Store) Put(ctx context.Context, events []gateway.NewEvent) ([]gateway.PutResult, error) {
	if len(events) == 0 {
		return []gateway.PutResult{}, nil
	}
	for i, e := range events {
		if err := checkEvent(e); err != nil {
			return nil, fmt.Errorf("put event %d: %w", i, err)
		}
	}
	c := &putCall{events: events, tok: newToken(), ctx: ctx, done: make(chan error, 1)}
	select {
	case s.putq <- c:
	case <-ctx.Done():
		return nil, fmt.Errorf("put: %w", ctx.Err())
	case <-s.stop:
		return nil, fmt.Errorf("put: %w: store closed", gateway.ErrUnavailable)
	}
	select {
	case err := <-c.done:
		if err != nil {
			return nil, err
		}
		return c.res, nil
	case <-ctx.Done():
		// The write may still land; the caller must assume it did not, and
		// a retry is recognized as a duplicate.
		return nil, fmt.Errorf("put: %w", ctx.Err())
	}
}

// checkEvent refuses what would corrupt the key layout: names are joined
// with ':' and subscriber lists with ','.
func checkEvent(e gateway.NewEvent) error {
	if e.Envelope.ID == "" {
		return errors.New("empty event id")
	}
	if e.Envelope.Source == "" || e.Envelope.Type == "" {
		return fmt.Errorf("event %s: empty source or type", e.Envelope.ID)
	}
	for _, sub := range e.Subscribers {
		if sub == "" || strings.ContainsAny(sub, ",:") {
			return fmt.Errorf("event %s: bad subscriber name %q", e.Envelope.ID, sub)
		}
	}

	return nil
}

// writeLoop takes one waiting Put, then every other already waiting (up
// to the batch bounds), and writes them together.
func (s *Store) writeLoop() {
	defer s.writers.Done()
	for {
		var first *putCall
		select {
		case first = <-s.putq:
		case <-s.stop:
			return
		}
		batch := []*putCall{first}
		n, size := len(first.events), bodyBytes(first.events)
	gather:
		for n < maxBatchEvents && size < maxBatchBytes {
			select {
			case c := <-s.putq:
				batch = append(batch, c)
				n += len(c.events)
				size += bodyBytes(c.events)
			default:
				break gather
			}
		}
		s.flushContained(batch)
	}
}

// flushContained flushes the batch; a panic on the way fails every call
// of it not yet answered, as unavailable, and the writer goes on.
func (s *Store) flushContained(batch []*putCall) {
	defer gateway.Contain("redisstore.put", func(err error) {
		for _, c := range batch {
			select {
			case c.done <- err:
			default: // answered before the panic
			}
		}
	})
	s.flush(batch)
}

func bodyBytes(evs []gateway.NewEvent) int {
	n := 0
	for _, e := range evs {
		n += len(e.Body)
	}
	return n
}

// flush writes a batch and answers each call. A call whose caller gave up
// before the write is skipped. If Redis refuses the batch with an error
// reply (not a lost connection), each call is retried alone so that only
// the faulty one fails.
func (s *Store) flush(batch []*putCall) {
	live := batch[:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.done <- fmt.Errorf("put: %w", err)
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	err := s.write(live)
	var rerr redis.Error
	if err != nil && len(live) > 1 && errors.As(err, &rerr) && !transientReply(rerr.Error()) {
		for _, c := range live {
			s.answer(c, s.write([]*putCall{c}))
		}
		return
	}
	for _, c := range live {
		s.answer(c, err)
	}
}

func (s *Store) answer(c *putCall, err error) {
	if err != nil {
		c.done <- s.unavailable("put", err)
		return
	}
	c.done <- nil
}

// write sends the calls' events in one script call per partition (in one
// pipeline per master) and fills each call's results.
func (s *Store) write(calls []*putCall) error {
	// Not the callers' contexts: the batch serves several, and one caller
	// leaving must not fail the others. The client's timeouts bound it.
	ctx := context.Background()
	if err := s.layout(ctx); err != nil {
		return err
	}
	if err := s.markSchema(ctx); err != nil {
		return err
	}
	// job[p] is partition p's script call; where[p] lists, in argument
	// order, the results it answers for: (call, event) positions.
	type pos struct{ call, event int }
	var jobs []partJob
	var where [][]pos
	jobOf := map[int]int{}
	for ci, c := range calls {
		for ei, e := range c.events {
			p := s.partOf(e.Envelope)
			j, ok := jobOf[p]
			if !ok {
				j = len(jobs)
				jobOf[p] = j
				jobs = append(jobs, partJob{p: p, args: []any{s.window.Milliseconds(), s.clock(), s.tombWin.Milliseconds()}})
				where = append(where, nil)
			}
			subs := slices.Compact(slices.Sorted(slices.Values(e.Subscribers)))
			args := append(jobs[j].args, e.Envelope.ID, c.tok, e.Envelope.Source, e.Envelope.Type, e.Envelope.Subject,
				ms(e.ReceivedAt), e.Body, len(subs))
			for _, sub := range subs {
				args = append(args, sub)
			}
			ordered := slices.Compact(slices.Sorted(slices.Values(e.Ordered)))
			args = append(args, len(ordered))
			for _, sub := range ordered {
				args = append(args, sub)
			}
			jobs[j].args = args
			where[j] = append(where[j], pos{ci, ei})
		}
	}
	cmds, err := s.runDurable(ctx, putScript, jobs)
	if err != nil {
		return err
	}
	for _, c := range calls {
		c.res = make([]gateway.PutResult, len(c.events))
	}
	var counted []string // events to count a duplicate on, by partition in countedPart
	var countedPart []int
	for j, cmd := range cmds {
		dups, err := cmd.Int64Slice()
		if err != nil {
			return err
		}
		if len(dups) != len(where[j]) {
			return fmt.Errorf("put: script answered %d results for %d events", len(dups), len(where[j]))
		}
		for k, at := range where[j] {
			calls[at.call].res[at.event].Duplicate = dups[k] != 0
			if dups[k] == 1 {
				counted = append(counted, calls[at.call].events[at.event].Envelope.ID)
				countedPart = append(countedPart, jobs[j].p)
			}
		}
	}
	for i, id := range counted {
		s.dups.Add(id, countedPart[i])
	}
	return nil
}

// Duplicates counters are written dupDelay after the first one counted,
// for at most maxDupIDs events per flush (gateway.DuplicateTally), so that
// a duplicate costs its Put no write.
const (
	dupDelay  = time.Second
	maxDupIDs = 10000
)

// writeDuplicates adds counts to the events' duplicates counters, one
// script call per partition (dups.lua); events gone meanwhile are
// skipped.
func (s *Store) writeDuplicates(counts map[string]gateway.DuplicateCount) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.layout(ctx); err != nil {
		return err
	}
	byPart := map[int][]any{}
	for id, c := range counts {
		byPart[c.Hint] = append(byPart[c.Hint], id, c.N)
	}
	var jobs []partJob
	for p, args := range byPart {
		if p >= 0 && p < s.nparts() {
			jobs = append(jobs, partJob{p: p, args: args})
		}
	}
	if err := firstErr(s.runParts(ctx, dupsScript, jobs)); err != nil {
		return s.unavailable("count duplicates", err)
	}
	return nil
}
