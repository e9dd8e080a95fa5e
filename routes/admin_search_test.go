package routes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// putEvents stores an unrouted event per (source, subject, price),
// received a millisecond apart from recv on, in that order.
func putEvents(t *testing.T, s gateway.Store, recv time.Time, evs []searchEvent) {
	t.Helper()
	var batch []gateway.NewEvent
	for i, ev := range evs {
		env := gateway.Envelope{SpecVersion: gateway.SpecVersion, ID: ev.id, Source: ev.source,
			Type: ev.source + ".product.updated", Subject: ev.subject, Time: recv,
			DataContentType: "application/json",
			Data:            gateway.Data{Object: json.RawMessage(fmt.Sprintf(`{"price":%g}`, ev.price))}}
		body, err := gateway.EncodeEnvelope(env)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, gateway.NewEvent{Envelope: env, Body: body, ReceivedAt: recv.Add(time.Duration(i) * time.Millisecond)})
		if len(batch) == 500 || i == len(evs)-1 {
			if _, err := s.Put(context.Background(), batch); err != nil {
				t.Fatalf("Put: %v", err)
			}
			batch = nil
		}
	}
}

type searchEvent struct {
	id, source, subject string
	price               float64
}

// searchPage is GET /admin/api/events with these query values.
func searchPage(t *testing.T, e *env, q url.Values) (int, map[string]json.RawMessage, gateway.EventPage) {
	t.Helper()
	status, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/events?"+q.Encode(), adminToken))
	var raw map[string]json.RawMessage
	var page gateway.EventPage
	decode(t, body, &raw)
	if status == 200 {
		decode(t, body, &page)
	}
	return status, raw, page
}

func TestAdminSearchBadExpression(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		q      string
		column int
		says   string
	}{
		{`event.type == "a" &&`, 21, "Syntax error"},
		{`event.typo == "a"`, 6, "typo"},
		{`event.data.object.price > 100.0 && event.type.endsWith(1)`, 55, "no matching overload"},
		{`event.type`, 1, "must be a bool"},
	}
	for _, tc := range tests {
		status, raw, _ := searchPage(t, e, url.Values{"q": {tc.q}, "source": {"shop"}})
		var msg string
		var column int
		_ = json.Unmarshal(raw["error"], &msg)
		_ = json.Unmarshal(raw["column"], &column)
		if status != 400 || column != tc.column || !strings.HasPrefix(msg, "q: ") || !strings.Contains(msg, tc.says) {
			t.Errorf("q=%s: %d %q column %d, want 400 saying %q at column %d", tc.q, status, msg, column, tc.says, tc.column)
		}
	}
}

// TestAdminSearchCombined: q narrows what source and subject pass, and
// sees event.data parsed from the stored JSON, as a filter does.
func TestAdminSearchCombined(t *testing.T) {
	e := newEnv(t)
	putEvents(t, e.store, time.Now().Add(-time.Hour), []searchEvent{
		{"evt_s1", "shop", "product/A", 50},
		{"evt_s2", "shop", "product/B", 150},
		{"evt_s3", "other", "product/C", 250},
		{"evt_s4", "shop", "product/A", 120.5},
		{"evt_s5", "shop", "product/A", 99},
	})
	q := `event.data.object.price > 100.0 && event.type.endsWith(".updated")`
	tests := []struct {
		query url.Values
		want  []string
	}{
		{url.Values{"q": {q}}, []string{"evt_s4", "evt_s3", "evt_s2"}},
		{url.Values{"q": {q}, "source": {"shop"}}, []string{"evt_s4", "evt_s2"}},
		{url.Values{"q": {q}, "source": {"shop"}, "subject": {"product/A"}}, []string{"evt_s4"}},
		{url.Values{"q": {q}, "status": {"unrouted"}, "type": {"other.product.updated"}}, []string{"evt_s3"}},
		{url.Values{"q": {`event.data.object.nope > 1.0`}}, nil}, // a missing field: no match, not an error
		{url.Values{"q": {`!has(event.data.object.nope) && event.data.object.price < 60.0`}}, []string{"evt_s1"}},
	}
	for _, tc := range tests {
		status, _, page := searchPage(t, e, tc.query)
		var got []string
		for _, ev := range page.Events {
			got = append(got, ev.ID)
		}
		if status != 200 || strings.Join(got, ",") != strings.Join(tc.want, ",") || page.NextCursor != "" {
			t.Errorf("%s: %d %v cursor %q, want %v and no cursor", tc.query.Encode(), status, got, page.NextCursor, tc.want)
		}
		if page.Scanned == 0 || page.Scanned > 5 || page.SearchedUntil == nil {
			t.Errorf("%s: scanned %d until %v, want 1 to 5 and a time", tc.query.Encode(), page.Scanned, page.SearchedUntil)
		}
	}
}

// TestAdminSearchContinues: a match beyond the first page's scan budget
// is found by going on from the cursors of the short pages before it.
func TestAdminSearchContinues(t *testing.T) {
	e := newEnv(t)
	const n = 5000
	evs := make([]searchEvent, n)
	for i := range evs {
		evs[i] = searchEvent{fmt.Sprintf("evt_c%05d", i), "shop", "product/X", 10}
	}
	evs[3].price = 500 // received early: listed last
	start := time.Now().Add(-2 * time.Hour)
	putEvents(t, e.store, start, evs)

	q := url.Values{"q": {`event.data.object.price > 100.0`}, "source": {"shop"}, "limit": {"10"}}
	status, _, first := searchPage(t, e, q)
	if status != 200 || len(first.Events) != 0 || first.NextCursor == "" || first.Scanned == 0 || first.Scanned >= n {
		t.Fatalf("first page: %d, %d events, cursor %q, scanned %d: want empty, a cursor, part of the %d searched",
			status, len(first.Events), first.NextCursor, first.Scanned, n)
	}
	if first.SearchedUntil == nil || !first.SearchedUntil.After(start.Add(3*time.Millisecond)) {
		t.Errorf("first page searched until %v, want after the match's receipt", first.SearchedUntil)
	}
	var found []string
	scanned, pages := first.Scanned, 1
	for page := first; page.NextCursor != ""; pages++ {
		if pages > 20 {
			t.Fatal("no end after 20 pages")
		}
		q.Set("cursor", page.NextCursor)
		if status, _, page = searchPage(t, e, q); status != 200 {
			t.Fatalf("page %d: %d", pages, status)
		}
		scanned += page.Scanned
		for _, ev := range page.Events {
			found = append(found, ev.ID)
		}
	}
	if strings.Join(found, ",") != "evt_c00003" || scanned < n {
		t.Errorf("went on to %v over %d pages scanning %d, want evt_c00003 after scanning all %d", found, pages, scanned, n)
	}
}
