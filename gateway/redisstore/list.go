package redisstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

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

// List walks the event index (i:all) of each partition newest first and
// checks every filter against each event's hash in the same script call:
// the store keeps no index per source, type, subscriber or status, which
// would cost writes on every Put and Record. The partitions are asked in
// one pipeline, each for the page below the cursor within its share of
// the budget, and their rows merged newest first.
//
// A partition that ran out of budget, or filled a page, has been read down
// to some entry (its frontier); rows older than the newest frontier could
// be missing others of partitions not read that far, so the page stops
// there. When the page is short for that reason (even empty), its cursor
// is that frontier, so a selective filter takes several calls to page
// through many events, each costing the same at any depth.
//
// With f.Match, the scripts return every row that passes the other
// filters within the budget, with its body's length, and stop once those
// lengths reach the partition's share of gateway.ListMatchBytes; the
// bodies are then read in one pipeline and judged here, outside any
// script (matchRows), so that Redis never waits on an expression.
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
	if err := s.layout(ctx); err != nil {
		return page, err
	}
	budget := max(listBudget/s.nparts(), limit+1)
	mbytes := 0
	if f.Match != nil {
		mbytes = max(1, gateway.ListMatchBytes/s.nparts())
	}
	cmds := s.runParts(ctx, listScript, s.allParts(score, after, limit, budget,
		f.Source, f.Type, f.Subscriber, string(f.Status), f.Subject, mbytes))
	if err := firstErr(cmds); err != nil {
		return page, s.unavailable("list", err)
	}
	parts := make([]listPart, len(cmds))
	for i, c := range cmds {
		p, err := parseListReply(c.Val())
		if err != nil {
			return page, err
		}
		parts[i] = p
		page.Scanned += p.examined
	}
	if f.Match != nil {
		if err := s.matchRows(ctx, parts, limit, f.Match); err != nil {
			return page, s.unavailable("list", err)
		}
	}
	var rows []listRow
	var frontier *listRow // the newest point some partition was read down to
	var oldest *listRow   // the oldest entry examined, when every partition ended
	for _, p := range parts {
		rows = append(rows, p.rows...)
		var stop *listRow
		switch {
		case p.stop != nil: // budget (or match bytes) ran out
			stop = p.stop
		case len(p.rows) > limit: // page filled: read down to its last row
			stop = &p.rows[len(p.rows)-1]
		}
		if stop != nil && (frontier == nil || stop.after(*frontier)) {
			frontier = stop
		}
		if p.last != nil && (oldest == nil || oldest.after(*p.last)) {
			oldest = p.last
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].after(rows[j]) })
	if frontier != nil {
		keep := rows[:0]
		for _, r := range rows {
			if !frontier.after(r) {
				keep = append(keep, r)
			}
		}
		rows = keep
	}
	for _, r := range rows[:min(len(rows), limit)] {
		page.Events = append(page.Events, r.ev)
	}
	var until *listRow
	switch {
	case len(rows) > limit:
		until = &rows[limit-1]
		page.NextCursor = encodeCursor(until.score, until.ev.ID)
	case frontier != nil:
		until = frontier
		page.NextCursor = encodeCursor(frontier.score, frontier.ev.ID)
	default:
		until = oldest
	}
	if until != nil {
		at := fromMS(until.score)
		page.SearchedUntil = &at
	}
	return page, nil
}

// listPart is one partition's answer to list.lua.
type listPart struct {
	rows     []listRow
	stop     *listRow // where the budget (or match bytes) ran out; nil otherwise
	last     *listRow // the last entry examined (only its score and id); nil if none
	examined int
}

// parseListReply reads {stop score, stop id, rows, examined, last score}.
func parseListReply(v any) (listPart, error) {
	reply, _ := v.([]any)
	if len(reply) != 5 {
		return listPart{}, errors.New("list: unexpected script reply")
	}
	var p listPart
	got, _ := reply[2].([]any)
	for _, r := range got {
		c, ok := r.([]any)
		if !ok || len(c) < 7 {
			return listPart{}, errors.New("list: unexpected script reply")
		}
		row := listRow{score: num(c[4]), ev: gateway.EventSummary{
			ID:         str(c[0]),
			Source:     str(c[1]),
			Type:       str(c[2]),
			Subject:    str(c[3]),
			ReceivedAt: fromMS(num(c[4])),
			Status:     gateway.DeliveryStatus(str(c[5])),
			Deliveries: listDeliveries(c[6]),
		}}
		p.rows = append(p.rows, row)
	}
	if str(reply[0]) != "" {
		p.stop = &listRow{score: num(reply[0]), ev: gateway.EventSummary{ID: str(reply[1])}}
	}
	p.examined = int(num(reply[3]))
	if str(reply[4]) != "" {
		p.last = &listRow{score: num(reply[4])}
	}
	return p, nil
}

// matchRows reads the bodies of every partition's rows in one pipeline
// and keeps, in each, the rows that match, up to limit+1 (the last then
// says the page is full, as list.lua's extra row does). A body gone since
// the script read its row is no match.
func (s *Store) matchRows(ctx context.Context, parts []listPart, limit int, match func([]byte) bool) error {
	var cmds [][]*redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		cmds = make([][]*redis.StringCmd, len(parts))
		for i, p := range parts {
			for _, r := range p.rows {
				cmds[i] = append(cmds[i], pipe.HGet(ctx, s.pkey(i, "e", r.ev.ID), "body"))
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	for i := range parts {
		p := &parts[i]
		keep := p.rows[:0]
		for j, r := range p.rows {
			body, err := cmds[i][j].Bytes()
			if err != nil || !match(body) {
				continue
			}
			keep = append(keep, r)
			if len(keep) > limit {
				p.stop = nil // the page filled before the budget ran out
				break
			}
		}
		p.rows = keep
	}
	return nil
}

// listDeliveries reads a row's {subscriber, status, ...} pairs.
func listDeliveries(v any) map[string]gateway.DeliveryStatus {
	pairs, _ := v.([]any)
	out := make(map[string]gateway.DeliveryStatus, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out[str(pairs[i])] = gateway.DeliveryStatus(str(pairs[i+1]))
	}
	return out
}

// listRow is a listed event with its index score (receipt ms).
type listRow struct {
	score int64
	ev    gateway.EventSummary
}

// after reports whether r comes before o in a listing: newer, or as new
// with a greater id (the index's own order, newest first).
func (r listRow) after(o listRow) bool {
	if r.score != o.score {
		return r.score > o.score
	}
	return r.ev.ID > o.ev.ID
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
