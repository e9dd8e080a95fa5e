package redisstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hookgate/hookgate/gateway"
)

// List limits: the page size when the filter gives none, and how many
// i:all entries one call examines at most. The budget keeps every call to
// a few milliseconds of Redis time however selective the filter and deep
// the cursor (Redis serves nothing else while a script runs; see
// BenchmarkList); it exceeds gateway.MaxPage so that an unfiltered page
// fills in one call.
const (
	defaultLimit = 50
	listBudget   = 1000
)

// List walks the event index (i:all) newest first and checks every filter
// against each event's hash in the same script call: the store keeps no
// index per source, type, subscriber or status, which would cost writes
// on every Put and Record. When the budget runs out before the page
// fills, the page comes back short (even empty) with a cursor at the last
// entry examined, so a selective filter takes several calls to page
// through many events.
func (s *Store) List(ctx context.Context, f gateway.EventFilter) (gateway.EventPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, gateway.MaxPage)
	page := gateway.EventPage{Events: []gateway.EventSummary{}}
	if f.Subscriber != "" && f.Status == gateway.StatusUnrouted {
		return page, nil // an event with a delivery to Subscriber is routed
	}
	score, after := "", ""
	if f.Cursor != "" {
		sc, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return page, fmt.Errorf("list: %w: %w", gateway.ErrInvalid, err)
		}
		score, after = strconv.FormatInt(sc, 10), id
	}
	reply, err := listScript.Run(ctx, s.rdb, []string{s.base}, score, after, limit, listBudget,
		f.Source, f.Type, f.Subscriber, string(f.Status), f.Subject).Slice()
	if err != nil {
		return page, unavailable("list", err)
	}
	if len(reply) != 3 {
		return page, errors.New("list: unexpected script reply")
	}
	rows, _ := reply[2].([]any)
	for _, r := range rows {
		c, ok := r.([]any)
		if !ok || len(c) != 6 {
			return page, errors.New("list: unexpected script reply")
		}
		page.Events = append(page.Events, gateway.EventSummary{
			ID:         str(c[0]),
			Source:     str(c[1]),
			Type:       str(c[2]),
			Subject:    str(c[3]),
			ReceivedAt: fromMS(num(c[4])),
			Status:     gateway.DeliveryStatus(str(c[5])),
		})
	}
	switch {
	case len(page.Events) > limit:
		page.Events = page.Events[:limit]
		last := page.Events[limit-1]
		page.NextCursor = encodeCursor(ms(last.ReceivedAt), last.ID)
	case str(reply[0]) != "":
		page.NextCursor = encodeCursor(num(reply[0]), str(reply[1]))
	}
	return page, nil
}

// A cursor is the last row's receipt time and id: the next page starts
// strictly after it in (time desc, id desc) order, so rows sharing a time
// are neither repeated nor skipped.
func encodeCursor(score int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(score, 10) + ":" + id))
}

func decodeCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", errors.New("malformed cursor")
	}
	sc, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(sc, 10, 64)
	if !ok || err != nil || id == "" {
		return 0, "", errors.New("malformed cursor")
	}
	return n, id, nil
}
