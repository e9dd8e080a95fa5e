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
// call, a consistent snapshot.
func (s *Store) Event(ctx context.Context, id string) (gateway.EventRecord, error) {
	reply, err := eventScript.Run(ctx, s.rdb, []string{s.base}, id).Result()
	if err != nil {
		return gateway.EventRecord{}, unavailable("event "+id, err)
	}
	f, ok := reply.([]any)
	if !ok {
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
		Duplicates: int(num(f[4])),
		Envelope:   []byte(str(f[5])),
		Deliveries: []gateway.DeliveryRecord{},
	}
	for _, d := range f[6:] {
		df, ok := d.([]any)
		if !ok || len(df) != 8 {
			return gateway.EventRecord{}, fmt.Errorf("event %s: unexpected delivery reply", id)
		}
		dr := deliveryRecord(id, df[:7])
		dr.History = parseHistory(df[7])
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

// parseAttempt reads a history entry, "n|at ms|duration ns|code|error",
// where n is "r<n>" for the first attempt after a manual redelivery; the
// error comes last so that it may hold '|'.
func parseAttempt(s string) gateway.Attempt {
	p := strings.SplitN(s, "|", 5)
	for len(p) < 5 {
		p = append(p, "")
	}
	num, redelivered := strings.CutPrefix(p[0], "r")
	n, _ := strconv.Atoi(num)
	at, _ := strconv.ParseInt(p[1], 10, 64)
	dur, _ := strconv.ParseInt(p[2], 10, 64)
	code, _ := strconv.Atoi(p[3])
	return gateway.Attempt{N: n, At: fromMS(at), Duration: time.Duration(dur), StatusCode: code, Error: p[4],
		Redelivered: redelivered}
}

// Dead lists the subscriber's dead deliveries, most recently dead first,
// at most gateway.MaxPage of them.
func (s *Store) Dead(ctx context.Context, subscriber string, limit int) ([]gateway.DeliveryRecord, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, gateway.MaxPage)
	rows, err := deadScript.Run(ctx, s.rdb, []string{s.base}, subscriber, limit).Slice()
	if err != nil {
		return nil, unavailable("dead "+subscriber, err)
	}
	out := make([]gateway.DeliveryRecord, 0, len(rows))
	for _, r := range rows {
		f, ok := r.([]any)
		if !ok || len(f) != 6 {
			return nil, fmt.Errorf("dead %s: unexpected script reply", subscriber)
		}
		d := deliveryRecord(str(f[0]), []any{subscriber, string(gateway.StatusDead), f[1], f[2], nil, f[3], f[4]})
		d.History = parseHistory(f[5])
		out = append(out, d)
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

// Stats reads the subscriber's counters in one script call (stats.lua).
func (s *Store) Stats(ctx context.Context, subscriber string) (gateway.SubscriberStats, error) {
	v, err := statsScript.Run(ctx, s.rdb, []string{s.base}, subscriber, oldestScan).Slice()
	if err != nil {
		return gateway.SubscriberStats{}, unavailable("stats "+subscriber, err)
	}
	if len(v) != 7 {
		return gateway.SubscriberStats{}, fmt.Errorf("stats %s: unexpected script reply", subscriber)
	}
	st := gateway.SubscriberStats{
		Pending:   num(v[0]),
		Dead:      num(v[1]),
		Delivered: num(v[2]),
		LastError: str(v[4]),
		Retrying:  max(0, num(v[5])),
	}
	if str(v[3]) != "" {
		st.LastSuccessAt = fromMS(num(v[3]))
	}
	if str(v[6]) != "" {
		st.OldestPendingAt = fromMS(num(v[6]))
	}
	return st, nil
}
