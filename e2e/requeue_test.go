package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// seqSub is a subscriber that records the subjects it is sent, in the
// order they arrive, and answers 200. Its deliveries run one at a time
// (max_in_flight 1), so arrival order is the order the gateway sent in.
type seqSub struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	got    []string // subject of each request, in arrival order
	ids    map[string]string
}

func newSeqSub(t *testing.T) *seqSub {
	s := &seqSub{secret: newSecret(t), ids: map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env envelope
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &env); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, env.Subject)
		s.ids[env.Subject] = r.Header.Get("webhook-id")
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// received is every subject sent so far, in order.
func (s *seqSub) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// waitCount waits until at least n subjects were sent after the first
// from, and returns those.
func (s *seqSub) waitCount(t *testing.T, from, n int) []string {
	t.Helper()
	var got []string
	waitFor(t, 30*time.Second, fmt.Sprintf("subscriber has %d more requests", n), func() (bool, string) {
		got = s.received()[from:]
		return len(got) >= n, fmt.Sprintf("got %v", got)
	})
	return got
}

// subscribeSeq adds the subscriber name, one delivery at a time, with the
// extra keys given (events, filter, backfill).
func (w *world) subscribeSeq(name string, s *seqSub, extra map[string]any) {
	m := map[string]any{"url": s.srv.URL + "/hooks/" + name, "secret": s.secret, "max_in_flight": 1, "retry": fastRetry}
	for k, v := range extra {
		m[k] = v
	}
	w.subscribers[name] = m
}

// replay is POST /admin/api/subscribers/{name}/replay with body; it
// returns the status and, on a 202, the count queued.
func (g *gateway) replay(t *testing.T, name string, body map[string]any) (int, int) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+g.admin+"/admin/api/subscribers/"+name+"/replay", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := admin.Do(req)
	if err != nil {
		t.Fatalf("POST replay: %v", err)
	}
	defer resp.Body.Close()
	var res struct {
		Queued int `json:"queued"`
	}
	if resp.StatusCode == http.StatusAccepted {
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatalf("replay answer: %v", err)
		}
	}
	return resp.StatusCode, res.Queued
}

// backfillRow is the backfill field of a GET /admin/api/subscribers row.
type backfillRow struct {
	Name     string `json:"name"`
	Pending  int64  `json:"pending"`
	Backfill *struct {
		Since  time.Time `json:"since"`
		Queued int64     `json:"queued"`
		Done   bool      `json:"done"`
	} `json:"backfill"`
}

func (g *gateway) backfillRows(t *testing.T) map[string]backfillRow {
	t.Helper()
	var rows []backfillRow
	g.adminGet(t, "/admin/api/subscribers", &rows)
	m := map[string]backfillRow{}
	for _, r := range rows {
		m[r.Name] = r
	}
	return m
}

// settled waits until sub has nothing pending: what it was sent is
// recorded delivered (a replay resets only delivered or dead deliveries).
func (g *gateway) settled(t *testing.T, sub string) {
	t.Helper()
	waitFor(t, 30*time.Second, sub+" has nothing pending", func() (bool, string) {
		row := g.backfillRows(t)[sub]
		return row.Pending == 0, fmt.Sprintf("%d pending", row.Pending)
	})
}

// sendProducts sends a product.updated per id, in order, each with
// is_active as active says; it returns the subjects of the active ones.
func sendProducts(g *gateway, n0 int, ids []string, active func(i int) bool) []string {
	var out []string
	for i, id := range ids {
		a := active(i)
		g.mustAccept(catalogProduct(id, n0+i, &a))
		if a {
			out = append(out, "product/"+id)
		}
	}
	return out
}

// A subscriber added on a reload (the file saved) with backfill: 1h gets
// the retained events its events and filter accept, in receipt order,
// then the new ones; one added beside it without backfill gets only the
// new ones; a subscriber there from the start is not backfilled. The
// backfill shows in its admin row and in hookgate_backfill_queued_total,
// and a restart does not backfill it again.
func TestBackfillNewSubscriber(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		archive := newSeqSub(t)
		w.subscribeSeq("archive", archive, nil)
		g := w.start()

		// Before the indexer exists: products, some active, and an
		// option it does not route.
		ids := []string{"B05", "B01", "B04", "B02", "B03", "B00", "B06", "B07"}
		old := sendProducts(g, 0, ids[:4], func(i int) bool { return i != 1 })
		g.mustAccept(iimmpactEvent{Type: "option.updated", Resource: "options", ID: "O1",
			Timestamp: "2024-01-15T12:00:00.000Z", Data: json.RawMessage(`{"is_active":true}`)})
		old = append(old, sendProducts(g, 4, ids[4:], func(i int) bool { return i != 2 })...)
		archive.waitCount(t, 0, 9)

		indexer, latecomer := newSeqSub(t), newSeqSub(t)
		w.subscribeSeq("indexer", indexer, map[string]any{"events": []string{"iimmpact.product.*"},
			"filter": activeFilter, "backfill": "1h"})
		w.subscribeSeq("latecomer", latecomer, map[string]any{"events": []string{"iimmpact.product.*"}})
		reloadAt := time.Now()
		w.save(g, "")
		waitFor(t, 30*time.Second, "the saved config is in force", func() (bool, string) {
			st := g.status(t)
			return st.Subscribers == 3, fmt.Sprintf("%d subscribers, last reload error %q", st.Subscribers, st.LastReloadError)
		})

		if got := indexer.waitCount(t, 0, len(old)); !slices.Equal(got, old) {
			t.Errorf("indexer backfilled %v, want the active products in receipt order %v", got, old)
		}
		// Then the new ones, after the backfill.
		fresh := sendProducts(g, 10, []string{"N1", "N2", "N3"}, func(i int) bool { return i != 1 })
		if got := indexer.waitCount(t, len(old), len(fresh)); !slices.Equal(got, fresh) {
			t.Errorf("indexer then got %v, want the new active products %v", got, fresh)
		}
		all := []string{"product/N1", "product/N2", "product/N3"}
		if got := latecomer.waitCount(t, 0, len(all)); !slices.Equal(got, all) {
			t.Errorf("latecomer (no backfill) got %v, want only the new products %v", got, all)
		}
		if got := archive.waitCount(t, 0, 12); len(got) != 12 {
			t.Errorf("archive got %d, want its 12 events once each (not backfilled)", len(got))
		}

		rows := g.backfillRows(t)
		if bf := rows["indexer"].Backfill; bf == nil || bf.Queued != int64(len(old)) ||
			bf.Since.Before(reloadAt.Add(-time.Hour-time.Minute)) || bf.Since.After(time.Now().Add(-time.Hour)) {
			t.Errorf("indexer's backfill row = %+v, want queued %d since about an hour before the reload", bf, len(old))
		}
		for _, name := range []string{"archive", "latecomer"} {
			if bf := rows[name].Backfill; bf != nil {
				t.Errorf("%s's backfill row = %+v, want none", name, bf)
			}
		}
		if text := g.metricsText(t); !strings.Contains(text, fmt.Sprintf(`hookgate_backfill_queued_total{subscriber="indexer"} %d`+"\n", len(old))) {
			t.Errorf("/metrics lacks hookgate_backfill_queued_total{subscriber=\"indexer\"} %d:\n%s", len(old), grepLines(text, "backfill"))
		}
		// Done once the end of its window has settled (the last seconds
		// walked again for events being stored as the config changed).
		waitFor(t, time.Minute, "the indexer's backfill is done", func() (bool, string) {
			bf := g.backfillRows(t)["indexer"].Backfill
			return bf != nil && bf.Done, fmt.Sprintf("%+v", bf)
		})

		// Restarted: seen before, not backfilled again.
		g.stop()
		g.start()
		sendProducts(g, 20, []string{"M1"}, func(int) bool { return true })
		got := indexer.waitCount(t, len(old)+len(fresh), 1)
		if !slices.Equal(got, []string{"product/M1"}) {
			t.Errorf("after a restart the indexer got %v, want only the new product/M1", got)
		}
	})
}

// A replay re-sends, with the ids they had, exactly the events received
// in the window asked for that the subscriber's events and filter accept,
// narrowed by types, in receipt order; nothing before or after the
// window.
func TestReplayWindow(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		indexer := newSeqSub(t)
		w.subscribeSeq("indexer", indexer, map[string]any{"events": []string{"iimmpact.product.*"}, "filter": activeFilter})
		g := w.start()
		odd := func(i int) bool { return i%2 == 0 }

		before := sendProducts(g, 0, []string{"R0", "R1", "R2"}, odd)
		indexer.waitCount(t, 0, len(before))
		since := time.Now()
		time.Sleep(5 * time.Millisecond) // received strictly after since, at any clock grain
		window := sendProducts(g, 10, []string{"W3", "W1", "W4", "W2", "W0"}, odd)
		g.mustAccept(iimmpactEvent{Type: "product.created", Resource: "products", ID: "WC",
			Timestamp: "2024-01-15T12:00:00.000Z", Data: json.RawMessage(`{"is_active":true}`)})
		window = append(window, "product/WC")
		indexer.waitCount(t, len(before), len(window))
		time.Sleep(5 * time.Millisecond)
		until := time.Now()
		// Received a clear millisecond after until: the Redis store keeps
		// receipt times to the millisecond.
		time.Sleep(5 * time.Millisecond)
		after := sendProducts(g, 20, []string{"A0", "A1"}, odd)
		sent := len(before) + len(window) + len(after)
		indexer.waitCount(t, 0, sent)
		g.settled(t, "indexer")

		check := func(body map[string]any, want []string) {
			t.Helper()
			from := len(indexer.received())
			code, queued := g.replay(t, "indexer", body)
			if code != http.StatusAccepted || queued != len(want) {
				t.Fatalf("replay %v = %d queued %d, want 202 queued %d", body, code, queued, len(want))
			}
			// A marker after the replay: once it is in, anything the
			// replay sent is in too.
			marker := fmt.Sprintf("MK%d", from)
			sendProducts(g, 100+from, []string{marker}, func(int) bool { return true })
			got := indexer.waitCount(t, from, len(want)+1)
			if !slices.Equal(got, append(slices.Clone(want), "product/"+marker)) {
				t.Errorf("replay %v sent %v, want %v then the marker", body, got, want)
			}
			g.settled(t, "indexer")
		}
		rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
		check(map[string]any{"since": rfc(since), "until": rfc(until)}, window)
		check(map[string]any{"since": rfc(since), "until": rfc(until), "types": []string{"iimmpact.product.updated"}},
			window[:len(window)-1])
		check(map[string]any{"since": rfc(since), "until": rfc(until), "sources": []string{"catalog360"}}, nil)
		ids := map[string]string{}
		indexer.mu.Lock()
		for k, v := range indexer.ids {
			ids[k] = v
		}
		indexer.mu.Unlock()
		if d := g.event(t, ids["product/W3"]); len(d.Deliveries) != 1 || len(d.Deliveries[0].History) != 3 {
			t.Errorf("product/W3 after two replays: %+v, want one delivery with its 3 attempts kept", d.Deliveries)
		}

		if code, _ := g.replay(t, "nobody", map[string]any{"since": rfc(since)}); code != http.StatusNotFound {
			t.Errorf("replay to an unknown subscriber = %d, want 404", code)
		}
		if code, _ := g.replay(t, "indexer", map[string]any{"since": rfc(time.Now().Add(-200 * time.Hour))}); code != http.StatusBadRequest {
			t.Errorf("replay of a window longer than retention = %d, want 400", code)
		}
	})
}
