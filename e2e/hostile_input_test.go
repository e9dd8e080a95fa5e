package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// These tests send what a broken or hostile upstream could sign: valid
// signatures over bodies no catalog would hold.

// An IIMMPACT product whose id is 40,000 characters, delivered to a
// subscriber with ordering: subject, is stored (200) and delivered with
// its whole subject, and a second event of that id waits its turn behind
// the first; a catalog360 batch of 100 with one such id is stored whole.
// (Before, the embedded store's line key went over bbolt's 32 KB: 503 for
// ever, the whole batch refused, logged as a store outage.)
func TestHostileSubjectHugeID(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		r := newRecorder(t, "ordered", 1)
		w.subscribe("ordered", sub{rec: r, extra: map[string]any{"ordering": "subject"}})
		g := w.start()

		huge := "P" + strings.Repeat("x", 40_000)
		for n := range 2 {
			if code, msg, err := g.sendIimmpact(iimmpactSecret, product(huge, n).body()); err != nil || code != http.StatusOK {
				t.Fatalf("product %d with a 40,000-character id: got %d %.200q (%v), want 200", n, code, msg, err)
			}
		}
		events := make([]c360Event, 100)
		subjects := []string{"product/" + huge}
		for i := range events {
			events[i] = assetItem("updated", i)
			if i == 37 {
				events[i].Payload["new"].(map[string]any)["id"] = "A" + strings.Repeat("y", 40_000)
			}
			subjects = append(subjects, "assetitem/"+events[i].Payload["new"].(map[string]any)["id"].(string))
		}
		if code, msg, err := g.sendC360(c360Key, c360Batch(events)); err != nil || code != http.StatusOK {
			t.Fatalf("catalog360 batch with one 40,000-character id: got %d %.200q (%v), want 200", code, msg, err)
		}
		r.waitSubjects(t, subjects, 60*time.Second)
		r.waitN(t, 102, 30*time.Second)
		if n := r.subjectCopies("product/" + huge); n < 2 {
			t.Errorf("product/<huge id>: %d envelopes, want both events", n)
		}
		if out := g.output(); strings.Contains(out, "unavailable") {
			t.Errorf("the gateway logged the store unavailable for a long id:\n%s", tail(out, 2000))
		}
	})
}

// A number past a double's range (1e400, valid JSON) in an event's data
// does not fail the filters that read data: an active product carrying
// one elsewhere is delivered to a subscriber filtering on is_active, and
// one whose price is 1e400 passes `price > 10` (infinity). The same holds
// for a catalog360 batch. (Before, every filter reading data erred on it
// and the event went unrouted.)
func TestHostileNumberOutOfRange(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		active := newRecorder(t, "active", 1)
		w.subscribe("active", sub{rec: active})
		w.setFilter("active", activeFilter)
		pricey := newRecorder(t, "pricey", 1)
		w.subscribe("pricey", sub{rec: pricey})
		w.setFilter("pricey", "event.data.object.price > 10")
		g := w.start()

		e := product("HUGE1", 1)
		e.Data = []byte(`{"code":"HUGE1","is_active":true,"price":5,"weight":1e400,"dims":[1,-1e400]}`)
		g.mustAccept(e)
		e = product("HUGE2", 2)
		e.Data = []byte(`{"code":"HUGE2","is_active":false,"price":1e400}`)
		g.mustAccept(e)
		batch := []byte(`{"events":[{"event_class":"assetitem_created","payload_class":"assetitem",` +
			`"payload":{"new":{"id":"A1","is_active":true,"price":2E+999}}}]}`)
		if code, msg, err := g.sendC360(c360Key, batch); err != nil || code != http.StatusOK {
			t.Fatalf("catalog360 batch with 2E+999: got %d %q (%v), want 200", code, msg, err)
		}

		active.waitSubjects(t, []string{"product/HUGE1", "assetitem/A1"}, 30*time.Second)
		pricey.waitSubjects(t, []string{"product/HUGE2", "assetitem/A1"}, 30*time.Second)
		if n := active.subjectCopies("product/HUGE2"); n != 0 {
			t.Errorf("active got the inactive product/HUGE2 %d times", n)
		}
		if n := pricey.subjectCopies("product/HUGE1"); n != 0 {
			t.Errorf("pricey got product/HUGE1 (price 5) %d times", n)
		}
		if strings.Contains(g.output(), "filter error") {
			t.Errorf("a filter error was logged:\n%s", tail(g.output(), 2000))
		}
	})
}

// With admin.token set, GET /metrics without it, or with a wrong one, is
// 401 and shows no metric (sources, subscribers, traffic and the version
// are the admin's business); with it, as Prometheus sends it, 200.
func TestHostileAdminMetricsWithoutToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	w.subscribe("indexer", sub{rec: newRecorder(t, "indexer", 1)})
	g := w.start()
	for _, token := range []string{"", "not-the-admin-token"} {
		code, body, err := g.scrape(admin, token)
		if err != nil || code != http.StatusUnauthorized || strings.Contains(body, "hookgate_") {
			t.Errorf("GET /metrics with token %q: got %d %.200q (%v), want 401 and no metrics", token, code, body, err)
		}
	}
	if code, body, err := g.scrape(admin, g.token); err != nil || code != http.StatusOK || !strings.Contains(body, `hookgate_build_info{`) {
		t.Errorf("GET /metrics with the token: got %d %.200q (%v), want 200 and the metrics", code, body, err)
	}
}

// With admin.tls set (the public listener's certificate here), the admin
// listener serves HTTPS: the token and the metrics go encrypted, and plain
// HTTP gets no answer with them.
func TestHostileAdminTokenOverTLS(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	w.serveTLS()
	w.admin = map[string]any{"tls": w.server["tls"]}
	w.subscribe("indexer", sub{rec: newRecorder(t, "indexer", 1)})
	g := w.start()

	req, err := http.NewRequest(http.MethodGet, "https://"+g.admin+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := w.tlsClient.Do(req)
	if err != nil {
		t.Fatalf("GET https://admin/metrics: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET https://admin/metrics with the token: got %d, want 200", resp.StatusCode)
	}
	if code, body, err := g.scrape(admin, g.token); err == nil && code == http.StatusOK {
		t.Errorf("GET http://admin/metrics (plain HTTP): got 200 %.100q, want no answer", body)
	}
	if !strings.Contains(g.output(), `"admin":"https://`) {
		t.Errorf("the start line does not show the admin listener as https:\n%s", tail(g.output(), 20))
	}
}

// A guessable admin token, or one that could never authenticate (a
// blank), stops the start with a file:line error naming admin.token that
// never shows the token.
func TestHostileAdminWeakToken(t *testing.T) {
	t.Parallel()
	for _, token := range []string{"a", " ", "weak token with spaces"} {
		w := newWorld(t, embedded)
		w.admin = map[string]any{"token": token}
		g := w.gateway()
		g.launch()
		select {
		case <-g.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("token %q: the gateway still runs after 30s, want it refused", token)
		}
		_, exitErr := g.exited()
		out := g.output()
		if exitErr == nil || !strings.Contains(out, ".yaml:") || !strings.Contains(out, ": admin.token: must ") {
			t.Errorf("token %q: exit %v, output:\n%s\nwant exit 1 and a file:line admin.token error", token, exitErr, tail(out, 10))
		}
		if len(token) > 1 && strings.Contains(out, token) {
			t.Errorf("token %q: the output shows it:\n%s", token, tail(out, 10))
		}
	}
}
