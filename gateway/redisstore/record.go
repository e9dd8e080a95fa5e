package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
)

// Record coalescing: each delivery ends with a Record, so under load they
// come as often as events do. Like Put, concurrent Records are gathered by
// a writer goroutine and sent as one script call, which saves Redis a
// script call per attempt and lets it write each index and stats key once
// per batch.
const (
	// recordWriters is one, unlike putWriters: Records are off the ingest
	// path, so a batch may wait for the one in flight, and the wait is what
	// makes batches big (measured: 1 writer cost Redis less CPU per event
	// than 2).
	recordWriters   = 1
	maxBatchRecords = 256 // attempts per script call
	recordArgs      = 15  // script arguments per attempt
)

// recordCall is one Record waiting for a writer.
type recordCall struct {
	label string // "<event>/<subscriber>", for errors
	args  [recordArgs]any
	ctx   context.Context
	done  chan error // buffered: the writer never blocks on a caller gone
}

// Record records the attempt and its outcome and ends the lease; it
// returns once Redis has replied. Calls made at the same moment share one
// script call.
//
// While Redis cannot be reached (a reset, a restart, a failover), Record
// tries again, backing off, for up to recordRetryFor or until ctx ends:
// each try is the same call
// (record.lua tells its re-runs apart from other calls), so a try whose
// reply was lost is not taken for a lost lease, and an attempt recorded
// after the store is back is not sent again when its lease runs out.
func (s *Store) Record(ctx context.Context, c gateway.Claim, o gateway.Outcome) error {
	label := c.EventID + "/" + c.Subscriber
	if err := gateway.CheckOutcome(o); err != nil {
		return fmt.Errorf("record %s: %w", label, err)
	}
	rc := recordCall{label: label, ctx: ctx, args: s.recordValues(c, o)}
	wait, giveUp := recordRetryFirst, time.Now().Add(recordRetryFor)
	for {
		try := rc // a call of its own per try: the writer may still hold the last
		try.done = make(chan error, 1)
		err := s.recordOnce(ctx, &try)
		if err == nil || !errors.Is(err, gateway.ErrUnavailable) || errors.Is(err, gateway.ErrPanicked) ||
			time.Now().After(giveUp) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		case <-s.stop:
			t.Stop()
			return err
		}
		wait = min(2*wait, recordRetryMax)
	}
}

// recordValues are record.lua's arguments for one attempt, under a new
// call id.
func (s *Store) recordValues(c gateway.Claim, o gateway.Outcome) [recordArgs]any {
	a := o.Attempt
	hasResp, ctype, body := "", "", ""
	if r := a.Response; r != nil {
		hasResp, ctype, body = "1", r.ContentType, r.Body
	}
	return [recordArgs]any{c.EventID, c.Subscriber, c.Token, string(o.Status), ms(a.At), int64(a.Duration),
		a.StatusCode, a.Error, ms(o.NextAttemptAt), failureText(a), s.callID(), hasResp, ctype, body, string(o.DeadReason)}
}

// Record's tries while Redis cannot be reached: the waits between them,
// and how long it goes on.
const (
	recordRetryFirst = 50 * time.Millisecond
	recordRetryMax   = time.Second
	recordRetryFor   = 5 * time.Second
)

// recordOnce hands rc to the writer and waits for its answer.
func (s *Store) recordOnce(ctx context.Context, rc *recordCall) error {
	select {
	case s.recq <- rc:
	case <-ctx.Done():
		return fmt.Errorf("record %s: %w", rc.label, ctx.Err())
	case <-s.stop:
		return fmt.Errorf("record %s: %w: store closed", rc.label, gateway.ErrUnavailable)
	}
	select {
	case err := <-rc.done:
		return err
	case <-ctx.Done():
		// The record may still land; if not, the lease runs out and the
		// delivery is tried again (at least once).
		return fmt.Errorf("record %s: %w", rc.label, ctx.Err())
	}
}

// callID names one Record call, unique across the processes sharing the
// store (record.lua: a re-run of the script is told from another call).
func (s *Store) callID() string {
	return s.inst + strconv.FormatInt(s.calls.Add(1), 36)
}

// recordLoop takes one waiting Record, then every other already waiting
// (up to maxBatchRecords), and writes them together.
func (s *Store) recordLoop() {
	defer s.writers.Done()
	for {
		var first *recordCall
		select {
		case first = <-s.recq:
		case <-s.stop:
			return
		}
		batch := []*recordCall{first}
	gather:
		for len(batch) < maxBatchRecords {
			select {
			case c := <-s.recq:
				batch = append(batch, c)
			default:
				break gather
			}
		}
		s.flushRecordsContained(batch)
	}
}

// flushRecordsContained flushes the batch; a panic on the way fails every
// call of it not yet answered, as unavailable (the lease then runs out and
// the delivery is tried again), and the writer goes on.
func (s *Store) flushRecordsContained(batch []*recordCall) {
	defer gateway.Contain("redisstore.record", func(err error) {
		for _, c := range batch {
			select {
			case c.done <- err:
			default: // answered before the panic
			}
		}
	})
	s.flushRecords(batch)
}

// flushRecords writes a batch and answers each call, skipping calls whose
// caller gave up. If Redis refuses the batch with an error reply (not a
// lost connection), each call is retried alone so that only the faulty
// one fails. A batch refused on a read wrote nothing; one refused on a
// write may have recorded some attempts (record.lua): their retries find
// them recorded by the same call and succeed, while their queue entries
// may still hold the lease, so that they come due again when it ends and
// are sent once more (at least once).
func (s *Store) flushRecords(batch []*recordCall) {
	live := batch[:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.done <- fmt.Errorf("record %s: %w", c.label, err)
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	oks, err := s.writeRecords(live)
	var rerr redis.Error
	if err != nil && len(live) > 1 && errors.As(err, &rerr) && !transientReply(rerr.Error()) {
		for _, c := range live {
			ok, err := s.writeRecords([]*recordCall{c})
			s.answerRecord(c, ok, err)
		}
		return
	}
	for i, c := range live {
		if err != nil {
			s.answerRecord(c, nil, err) // oks is nil: nothing was read back
			continue
		}
		s.answerRecord(c, oks[i:], nil)
	}
}

// answerRecord tells c its outcome: oks[0] is its script result when err
// is nil (oks is not read otherwise).
func (s *Store) answerRecord(c *recordCall, oks []int64, err error) {
	switch {
	case err != nil:
		c.done <- s.unavailable("record "+c.label, err)
	case oks[0] == 0:
		c.done <- fmt.Errorf("record %s: %w", c.label, gateway.ErrLeaseLost)
	default:
		c.done <- nil
	}
}

// writeRecords sends the calls in one script call per partition (the
// lease token names it; one pipeline) and returns the script's result per
// call, in order. A token naming no partition of the store is a lost
// lease.
func (s *Store) writeRecords(calls []*recordCall) ([]int64, error) {
	// Not the callers' contexts: the batch serves several. The client's
	// timeouts bound it.
	ctx := context.Background()
	if err := s.layout(ctx); err != nil {
		return nil, err
	}
	oks := make([]int64, len(calls))
	var jobs []partJob
	var where [][]int
	jobOf := map[int]int{}
	for i, c := range calls {
		p, ok := s.tokenPart(c.args[2].(string))
		if !ok {
			continue // oks[i] stays 0: lease lost
		}
		j, seen := jobOf[p]
		if !seen {
			j = len(jobs)
			jobOf[p] = j
			jobs = append(jobs, partJob{p: p, args: make([]any, 0, len(calls)*recordArgs)})
			where = append(where, nil)
		}
		jobs[j].args = append(jobs[j].args, c.args[:]...)
		where[j] = append(where[j], i)
	}
	if len(jobs) == 0 {
		return oks, nil
	}
	// Confirmed by a replica, as a Put is: a record that a failover
	// loses sends its delivery again when the lease ends (a duplicate).
	// Unconfirmed, the call fails and Record tries it again, the same
	// call (rn), on whichever master is there by then.
	cmds, err := s.runDurableEach(ctx, recordScript, jobs, "redisstore.record", false)
	if err == nil {
		err = firstErr(cmds)
	}
	if err != nil {
		return nil, err
	}
	for j, cmd := range cmds {
		res, err := cmd.Int64Slice()
		if err == nil && len(res) != len(where[j]) {
			err = fmt.Errorf("script answered %d results for %d attempts", len(res), len(where[j]))
		}
		if err != nil {
			return nil, err
		}
		for k, i := range where[j] {
			oks[i] = res[k]
		}
	}
	return oks, nil
}
