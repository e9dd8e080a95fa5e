package redisstore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Event reads the event, its deliveries and their history in one script
// call, a consistent snapshot. Only the id is known, not the subject that
// chose the partition: every partition is asked, in one pipeline.
func (s *Store) Event(ctx context.Context, id string) (gateway.EventRecord, error) {
	if err := s.layout(ctx); err != nil {
		return gateway.EventRecord{}, err
	}
	cmds := s.runParts(ctx, eventScript, s.allParts(id))
	if err := firstErr(cmds); err != nil {
		return gateway.EventRecord{}, s.unavailable("event "+id, err)
	}
	var f []any
	for _, c := range cmds {
		if row, ok := c.Val().([]any); ok {
			f = row
			break
		}
	}
	if f == nil {
		return gateway.EventRecord{}, fmt.Errorf("event %s: %w", id, gateway.ErrNotFound)
	}
	if len(f) < 6 {
		return gateway.EventRecord{}, fmt.Errorf("event %s: unexpected script reply", id)
	}
	rec := gateway.EventRecord{
		ID:         id,
		Source:     str(f[0]),
		Type:       str(f[1]),
		Subject:    str(f[2]),
		ReceivedAt: fromMS(num(f[3])),
		Duplicates: int(num(f[4])) + s.dups.Pending(id),
		Envelope:   []byte(str(f[5])),
		Deliveries: []gateway.DeliveryRecord{},
	}
	for _, d := range f[6:] {
		df, ok := d.([]any)
		if !ok || len(df) != 10 {
			return gateway.EventRecord{}, fmt.Errorf("event %s: unexpected delivery reply", id)
		}
		dr := deliveryRecord(id, df[:7])
		dr.History = parseHistory(df[7])
		if dr.WaitingOn = str(df[8]); dr.WaitingOn != "" {
			dr.NextAttemptAt = nil // in line, not scheduled
		}
		dr.DeadReason = deadReason(dr.Status, df[9])
		rec.Deliveries = append(rec.Deliveries, dr)
	}
	sort.Slice(rec.Deliveries, func(i, j int) bool {
		return rec.Deliveries[i].Subscriber < rec.Deliveries[j].Subscriber
	})
	return rec, nil
}

// deliveryRecord reads {subscriber, status, attempts, created, next, code,
// error}.
func deliveryRecord(id string, f []any) gateway.DeliveryRecord {
	d := gateway.DeliveryRecord{
		EventID:        id,
		Subscriber:     str(f[0]),
		Status:         gateway.DeliveryStatus(str(f[1])),
		Attempts:       int(num(f[2])),
		CreatedAt:      fromMS(num(f[3])),
		LastStatusCode: int(num(f[5])),
		LastError:      str(f[6]),
	}
	if next := str(f[4]); next != "" && (d.Status == gateway.StatusPending || d.Status == gateway.StatusRetrying) {
		t := fromMS(num(next))
		d.NextAttemptAt = &t
	}
	return d
}

// deadReason reads a delivery's dr field: kept only while it is dead.
func deadReason(st gateway.DeliveryStatus, v any) gateway.DeadReason {
	if st != gateway.StatusDead {
		return gateway.DeadUnknown
	}
	return gateway.DeadReason(str(v))
}

// parseAttempt reads a history entry, "n|at ms|duration ns|code|error",
// where n is "r<n>" for the first attempt after a manual redelivery; the
// error comes last so that it may hold '|'. An entry with a response
// excerpt starts with 'x' and has the lengths of the error and content
// type before the texts (record.lua).
func parseAttempt(s string) gateway.Attempt {
	if rest, ok := strings.CutPrefix(s, "x"); ok {
		if a, ok := parseAttemptResponse(rest); ok {
			return a
		}
	}
	p := strings.SplitN(s, "|", 5)
	for len(p) < 5 {
		p = append(p, "")
	}
	return attemptFields(p[:4], p[4])
}

// parseAttemptResponse reads "n|at|dur|code|len(error)|len(content
// type)|" and then the error, content type and body back to back.
func parseAttemptResponse(s string) (gateway.Attempt, bool) {
	p := strings.SplitN(s, "|", 7)
	if len(p) < 7 {
		return gateway.Attempt{}, false
	}
	ne, err1 := strconv.Atoi(p[4])
	nc, err2 := strconv.Atoi(p[5])
	texts := p[6]
	if err1 != nil || err2 != nil || ne < 0 || nc < 0 || ne+nc > len(texts) {
		return gateway.Attempt{}, false
	}
	a := attemptFields(p[:4], texts[:ne])
	a.Response = &gateway.AttemptResponse{ContentType: texts[ne : ne+nc], Body: texts[ne+nc:]}
	return a, true
}

// attemptFields makes an attempt of an entry's first four fields (n, at,
// duration, code) and its error.
func attemptFields(p []string, errText string) gateway.Attempt {
	num, redelivered := strings.CutPrefix(p[0], "r")
	n, _ := strconv.Atoi(num)
	at, _ := strconv.ParseInt(p[1], 10, 64)
	dur, _ := strconv.ParseInt(p[2], 10, 64)
	code, _ := strconv.Atoi(p[3])
	return gateway.Attempt{N: n, At: fromMS(at), Duration: time.Duration(dur), StatusCode: code, Error: errText,
		Redelivered: redelivered}
}

// Dead lists the subscriber's dead deliveries, most recently dead first,
// at most gateway.MaxPage of them. With a reason, each partition examines
// its share of gateway.DeadScan (dead.lua).
func (s *Store) Dead(ctx context.Context, subscriber string, f gateway.DeadFilter) ([]gateway.DeliveryRecord, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, gateway.MaxPage)
	if err := s.layout(ctx); err != nil {
		return nil, err
	}
	// Each partition's most recently dead, merged by time of death.
	scan := max(gateway.DeadScan/s.nparts(), limit)
	cmds := s.runParts(ctx, deadScript, s.allParts(subscriber, limit, string(f.Reason), scan))
	if err := firstErr(cmds); err != nil {
		return nil, s.unavailable("dead "+subscriber, err)
	}
	type row struct {
		at int64
		d  gateway.DeliveryRecord
	}
	var all []row
	for _, c := range cmds {
		rows, _ := c.Val().([]any)
		for _, r := range rows {
			f, ok := r.([]any)
			if !ok || len(f) != 10 {
				return nil, fmt.Errorf("dead %s: unexpected script reply", subscriber)
			}
			d := deliveryRecord(str(f[0]), []any{subscriber, string(gateway.StatusDead), f[1], f[2], nil, f[3], f[4]})
			d.History = parseHistory(f[5])
			d.Type, d.Subject = str(f[7]), str(f[8])
			d.DeadReason = deadReason(gateway.StatusDead, f[9])
			all = append(all, row{num(f[6]), d})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].at != all[j].at {
			return all[i].at > all[j].at
		}
		return all[i].d.EventID > all[j].d.EventID
	})
	out := make([]gateway.DeliveryRecord, 0, min(len(all), limit))
	for _, r := range all[:min(len(all), limit)] {
		out = append(out, r.d)
	}
	return out, nil
}

// parseHistory reads a script's list of history entries.
func parseHistory(v any) []gateway.Attempt {
	hist, _ := v.([]any)
	out := make([]gateway.Attempt, 0, len(hist))
	for _, h := range hist {
		out = append(out, parseAttempt(str(h)))
	}
	return out
}

// oldestScan bounds the queue entries Stats reads to find the oldest
// pending delivery (stats.lua).
const oldestScan = 1000

// Stats reads the subscriber's counters, one script call per partition
// (stats.lua) in one pipeline, and sums them up. The last error is the
// latest partition's, unless a success came after it.
func (s *Store) Stats(ctx context.Context, subscriber string) (gateway.SubscriberStats, error) {
	if err := s.layout(ctx); err != nil {
		return gateway.SubscriberStats{}, err
	}
	cmds := s.runParts(ctx, statsScript, s.allParts(subscriber, max(oldestScan/s.nparts(), 16)))
	if err := firstErr(cmds); err != nil {
		return gateway.SubscriberStats{}, s.unavailable("stats "+subscriber, err)
	}
	var st gateway.SubscriberStats
	var lastOK, errAt int64 = -1, -1
	for _, c := range cmds {
		v, _ := c.Val().([]any)
		if len(v) != 8 {
			return gateway.SubscriberStats{}, fmt.Errorf("stats %s: unexpected script reply", subscriber)
		}
		st.Pending += num(v[0])
		st.Dead += num(v[1])
		st.Delivered += num(v[2])
		st.Retrying += max(0, num(v[5]))
		if str(v[3]) != "" && num(v[3]) > lastOK {
			lastOK = num(v[3])
		}
		// An error recorded before last_err_at was kept has time 0.
		if e := str(v[4]); e != "" && num(v[7]) > errAt {
			st.LastError, errAt = e, num(v[7])
		}
		if str(v[6]) != "" {
			if t := fromMS(num(v[6])); st.OldestPendingAt.IsZero() || t.Before(st.OldestPendingAt) {
				st.OldestPendingAt = t
			}
		}
	}
	if lastOK >= 0 {
		st.LastSuccessAt = fromMS(lastOK)
		if lastOK > errAt && s.nparts() > 1 {
			st.LastError = ""
		}
	}
	return st, nil
}
