package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
)

// The scripts of Requeue and the subscriber registry.
var (
	requeueScanScript = lua("requeue_scan.lua")
	requeueScript     = lua("redeliver.lua", "requeue.lua")
	requeueMarkScript = lua("requeue_mark.lua")
	requeueEndScript  = lua("requeue_end.lua")
)

// Requeue is one step of a replay or backfill walk (gateway.Store). Each
// partition's i:all is read from the position in one pipeline
// (requeue_scan.lua), the rows merged in receipt order and cut at the
// step's bounds, the bodies fetched if Accept needs them, and the
// accepted events queued by one script call per partition
// (requeue.lua), which checks each again: four round trips at most.
//
// The position is a receipt millisecond: every event received at or
// before it has been examined. Steps end on whole milliseconds, so a
// step may pass r.Max by the events sharing its last millisecond (a
// catalog360 batch shares one). Each partition reads its share of r.Max
// rows (perPartition, and the rest of its last millisecond); the step
// keeps the rows up to the earliest point some partition stopped at,
// where every partition has been read.
func (s *Store) Requeue(ctx context.Context, r gateway.RequeueRange, now time.Time) (gateway.RequeueResult, error) {
	op := "requeue " + r.Subscriber
	var res gateway.RequeueResult
	if r.Subscriber == "" {
		return res, fmt.Errorf("%s: %w: no subscriber", op, gateway.ErrInvalid)
	}
	pos := ""
	if r.After != "" {
		v, err := strconv.ParseInt(strings.TrimPrefix(r.After, "ms"), 10, 64)
		if err != nil || !strings.HasPrefix(r.After, "ms") {
			return res, fmt.Errorf("%s: %w: bad requeue position %q", op, gateway.ErrInvalid, r.After)
		}
		pos = strconv.FormatInt(v, 10)
	}
	if r.Window.Empty() {
		return res, nil
	}
	if err := s.layout(ctx); err != nil {
		return res, err
	}
	max := r.Max
	if max <= 0 || max > gateway.RequeueBatch {
		max = gateway.RequeueBatch
	}
	since, until := ceilMS(r.Window.Since), ceilMS(r.Window.Until)
	reset := "0"
	if r.Reset {
		reset = "1"
	}
	cmds := s.runParts(ctx, requeueScanScript, s.allParts(since, until, pos, s.perPartition(max), r.Subscriber, reset))
	if err := firstErr(cmds); err != nil {
		return res, s.unavailable(op, err)
	}
	var rows []scanRow
	frontier := int64(-1) // the earliest score a partition stopped at; -1: all ended
	for p, c := range cmds {
		reply, _ := c.Val().([]any)
		if len(reply) < 1 {
			return res, fmt.Errorf("%s: unexpected script reply", op)
		}
		for _, v := range reply[1:] {
			f, ok := v.([]any)
			if !ok || len(f) != 7 {
				return res, fmt.Errorf("%s: unexpected script reply", op)
			}
			rows = append(rows, scanRow{p: p, score: num(f[1]), ev: gateway.RequeueEvent{
				ID: str(f[0]), Source: str(f[2]), Type: str(f[3]), Subject: str(f[4]),
				ReceivedAt: fromMS(num(f[1]))}, size: num(f[5]), skip: num(f[6]) == 1})
		}
		if num(reply[0]) == 0 && len(reply) > 1 {
			last := num(reply[len(reply)-1].([]any)[1])
			if frontier < 0 || last < frontier {
				frontier = last
			}
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].score != rows[j].score {
			return rows[i].score < rows[j].score
		}
		return rows[i].ev.ID < rows[j].ev.ID
	})
	if frontier >= 0 {
		rows = rows[:sort.Search(len(rows), func(i int) bool { return rows[i].score > frontier })]
	}
	// Cut at the bounds, on a whole millisecond.
	cut, size := len(rows), int64(0)
	for i, row := range rows {
		if (i >= max || (r.Bodies && size >= gateway.RequeueBytes)) && row.score != rows[i-1].score {
			cut = i
			break
		}
		if !row.skip {
			size += row.size
		}
	}
	switch {
	case cut < len(rows):
		res.Next = "ms" + strconv.FormatInt(rows[cut-1].score, 10)
	case frontier >= 0:
		res.Next = "ms" + strconv.FormatInt(frontier, 10)
	}
	rows = rows[:cut]
	res.Examined = len(rows)

	var cands []*scanRow
	for i := range rows {
		if !rows[i].skip {
			cands = append(cands, &rows[i])
		}
	}
	if r.Bodies && len(cands) > 0 {
		if err := s.fetchBodies(ctx, cands); err != nil {
			return res, s.unavailable(op, err)
		}
	}
	ids := make([][]any, s.nparts())
	for _, row := range cands {
		if r.Accept == nil || r.Accept(row.ev) {
			ids[row.p] = append(ids[row.p], row.ev.ID)
		}
	}
	var jobs []partJob
	for p, list := range ids {
		if len(list) > 0 {
			ordered := "0"
			if r.Ordered {
				ordered = "1"
			}
			args := append([]any{r.Subscriber, ms(now), reset, since, until, s.clock(), ordered}, list...)
			jobs = append(jobs, partJob{p: p, args: args})
		}
	}
	if len(jobs) == 0 {
		return res, nil
	}
	var firstErr error
	for _, c := range s.runParts(ctx, requeueScript, jobs) {
		n, err := c.Int()
		if err != nil {
			firstErr = errors.Join(firstErr, err)
			continue
		}
		res.Queued += n
	}
	if firstErr != nil {
		return res, s.unavailable(op, firstErr)
	}
	return res, nil
}

// perPartition is how many rows each partition reads for a step of limit:
// its share, doubled for partitions fuller than the others, at least 32,
// so that a walk over many partitions does not read each event many
// times over; at most limit. The step keeps at least the rows of the
// partition that stopped earliest, all of its share.
func (s *Store) perPartition(limit int) int {
	n := s.nparts()
	if n == 1 {
		return limit
	}
	return min(limit, max(32, 2*((limit+n-1)/n)))
}

// scanRow is one i:all entry a Requeue step read, from partition p.
type scanRow struct {
	p     int
	score int64
	ev    gateway.RequeueEvent
	size  int64 // body bytes
	skip  bool  // left alone whatever Accept says
}

// fetchBodies reads the rows' bodies in one pipeline. A body gone since
// the scan stays nil; the queue script passes its event over.
func (s *Store) fetchBodies(ctx context.Context, rows []*scanRow) error {
	cmds := make([]*redis.StringCmd, len(rows))
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, row := range rows {
			cmds[i] = pipe.HGet(ctx, s.pkey(row.p, "e", row.ev.ID), "body")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	for i, c := range cmds {
		if b, err := c.Bytes(); err == nil {
			rows[i].ev.Body = b
		}
	}
	return nil
}

// ceilMS is the first whole millisecond at or after t: the stored receipt
// times are whole milliseconds, so an event is at or after t exactly when
// its millisecond is at or after ceilMS(t).
func ceilMS(t time.Time) int64 {
	v := t.UnixMilli()
	if t.Sub(time.UnixMilli(v)) > 0 {
		v++
	}
	return v
}

// MarkSubscribers registers the configured subscribers in the registry
// hash "{prefix}:seen" and reports the pending backfills
// (requeue_mark.lua). While the registry is missing, the subscribers of
// every partition's r:sub (each ever given a delivery) are gathered
// first and passed as its seeds; the script seeds only if the registry is
// still missing then.
func (s *Store) MarkSubscribers(ctx context.Context, subs map[string]gateway.TimeWindow) (map[string]gateway.TimeWindow, error) {
	if err := s.layout(ctx); err != nil {
		return nil, err
	}
	reg := s.key("seen")
	n, err := s.rdb.Exists(ctx, reg).Result()
	if err != nil {
		return nil, s.unavailable("mark subscribers", err)
	}
	var seeds []string
	if n == 0 {
		cmds := make([]*redis.StringSliceCmd, s.nparts())
		_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for p := range cmds {
				cmds[p] = pipe.SMembers(ctx, s.pkey(p, "r", "sub"))
			}
			return nil
		})
		if err != nil {
			return nil, s.unavailable("mark subscribers", err)
		}
		for _, c := range cmds {
			seeds = append(seeds, c.Val()...)
		}
	}
	args := []any{len(seeds)}
	for _, name := range seeds {
		args = append(args, name)
	}
	for name, w := range subs {
		if name == "" {
			continue
		}
		if w.IsZero() {
			args = append(args, name, "", "")
		} else {
			args = append(args, name, ms(w.Since), ms(w.Until))
		}
	}
	reply, err := requeueMarkScript.Run(ctx, s.rdb, []string{s.base}, args...).StringSlice()
	if err != nil {
		return nil, s.unavailable("mark subscribers", err)
	}
	pending := map[string]gateway.TimeWindow{}
	for i := 0; i+1 < len(reply); i += 2 {
		parts := strings.Split(reply[i+1], ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("mark subscribers: registry entry %q of %s is not a window", reply[i+1], reply[i])
		}
		since, err1 := strconv.ParseInt(parts[1], 10, 64)
		until, err2 := strconv.ParseInt(parts[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mark subscribers: registry entry %q of %s is not a window", reply[i+1], reply[i])
		}
		pending[reply[i]] = gateway.TimeWindow{Since: fromMS(since), Until: fromMS(until)}
	}
	return pending, nil
}

// EndBackfill marks the subscriber's pending backfill done.
func (s *Store) EndBackfill(ctx context.Context, subscriber string) error {
	if err := requeueEndScript.Run(ctx, s.rdb, []string{s.base}, subscriber).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return s.unavailable("end backfill "+subscriber, err)
	}
	return nil
}
