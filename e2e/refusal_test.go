package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// Requests that are not authentic, not for a known source, too big or not
// a provider's payload are refused with the contract's codes, and nothing
// of them is stored or delivered.
func TestIngestRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()

	good := product("REFUSED", 3).body()
	tooMany := make([]c360Event, 101)
	for i := range tooMany {
		tooMany[i] = assetItem("created", 200+i)
	}
	sig := func(name, value string) http.Header { return http.Header{name: {value}} }

	tests := []struct {
		name   string
		path   string
		body   []byte
		header http.Header
		want   int
	}{
		{"iimmpact wrong secret", "/webhooks/iimmpact", good, sig("X-Webhook-Signature", signIimmpact("not-the-secret", good)), 401},
		{"iimmpact no signature", "/webhooks/iimmpact", good, nil, 401},
		{"iimmpact malformed signature", "/webhooks/iimmpact", good, sig("X-Webhook-Signature", "sha256=zz"), 401},
		{"iimmpact catalog360-style signature", "/webhooks/iimmpact", good, sig("X-Webhook-Signature", signC360(iimmpactSecret, good)), 401},
		{"iimmpact signature of another body", "/webhooks/iimmpact", good, sig("X-Webhook-Signature", signIimmpact(iimmpactSecret, append(bytes.Clone(good), ' '))), 401},
		{"catalog360 wrong key", "/webhooks/catalog360", c360Batch([]c360Event{assetItem("created", 1)}), sig("X-C360-Signature", signC360("nope", c360Batch([]c360Event{assetItem("created", 1)}))), 401},
		{"catalog360 no signature", "/webhooks/catalog360", c360Batch([]c360Event{assetItem("created", 1)}), nil, 401},
		{"unknown source", "/webhooks/nosuch", good, sig("X-Webhook-Signature", signIimmpact(iimmpactSecret, good)), 404},
		{"iimmpact signed junk", "/webhooks/iimmpact", []byte("not json at all"), sig("X-Webhook-Signature", signIimmpact(iimmpactSecret, []byte("not json at all"))), 400},
		{"iimmpact signed JSON that is no event", "/webhooks/iimmpact", []byte(`{"hello":"world"}`), sig("X-Webhook-Signature", signIimmpact(iimmpactSecret, []byte(`{"hello":"world"}`))), 400},
		{"catalog360 signed junk", "/webhooks/catalog360", []byte(`{"events":5}`), sig("X-C360-Signature", signC360(c360Key, []byte(`{"events":5}`))), 400},
		{"catalog360 batch of 101", "/webhooks/catalog360", c360Batch(tooMany), sig("X-C360-Signature", signC360(c360Key, c360Batch(tooMany))), 400},
	}
	for _, tc := range tests {
		code, msg, err := g.post(tc.path, tc.body, tc.header)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if code != tc.want {
			t.Errorf("%s: got %d %q, want %d", tc.name, code, msg, tc.want)
		}
	}

	var page eventPage
	g.adminGet(t, "/admin/api/events?limit=500", &page)
	if len(page.Events) != 0 {
		t.Errorf("after refused requests the admin lists %d events, want none: %+v", len(page.Events), page.Events)
	}
	g.mustAccept(product("MARKER", 5))
	r.waitN(t, 1, 30*time.Second)
	if n, _ := r.counts(); n != 1 {
		t.Errorf("subscriber got %d events, want only the marker: %v", n, r.all())
	}
}

// With Redis down the gateway answers 503, never 200, and /readyz says so;
// once Redis is back the same request is accepted and delivered.
func TestStoreDown(t *testing.T) {
	t.Parallel()
	w := newWorld(t, redisBackend)
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})
	g := w.start()
	g.mustAccept(product("BEFORE", 6))
	r.waitN(t, 1, 30*time.Second)

	w.redis.Stop()
	ev := product("DURING", 7)
	code, msg, err := g.sendIimmpact(iimmpactSecret, ev.body())
	if err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("POST with Redis stopped: got %d %q (%v), want 503", code, msg, err)
	}
	waitFor(t, 30*time.Second, "/readyz is 503 with Redis stopped", func() (bool, string) {
		c, err := g.getStatus("/readyz")
		return c == http.StatusServiceUnavailable, statusDetail(c, err)
	})
	if c, err := g.getStatus("/healthz"); c != http.StatusOK {
		t.Errorf("/healthz with Redis stopped: %s, want 200 (the process lives)", statusDetail(c, err))
	}

	w.redis.Restart()
	waitFor(t, 30*time.Second, "the provider's retry is accepted once Redis is back", func() (bool, string) {
		code, msg, err := g.sendIimmpact(iimmpactSecret, ev.body())
		if err != nil {
			return false, err.Error()
		}
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Fatalf("POST while Redis comes back: got %d %q, want 503 or 200", code, msg)
		}
		return code == http.StatusOK, statusDetail(code, nil)
	})
	waitFor(t, 30*time.Second, "/readyz is 200 again", func() (bool, string) {
		c, err := g.getStatus("/readyz")
		return c == http.StatusOK, statusDetail(c, err)
	})
	r.waitN(t, 2, 30*time.Second)
	if _, ok := r.find("iimmpact.product.updated", "product/DURING"); !ok {
		t.Errorf("the event accepted after the restart was not delivered: %v", r.all())
	}
}

// getStatus GETs path on g's public listener.
func (g *gateway) getStatus(path string) (int, error) {
	resp, err := g.client().Get(g.url(path))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func statusDetail(code int, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("got %d %s", code, http.StatusText(code))
}
