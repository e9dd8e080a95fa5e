package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The feed's transform: its own names for two fields, under "object" so
// that the recorder, which reads data.object, holds them for the test.
const (
	feedTransform      = `{"object": {"sku": event.data.object.product_code, "active": event.data.object.is_active}, "kind": event.type}`
	feedTransformFixed = `{"object": {"sku": event.data.object.product_code, "active": event.data.object.?is_active.orValue(false)}, "kind": event.type}`
)

// A subscriber with a transform receives the envelope with its data
// replaced by the transform's value, signed over what was sent (the
// recorder verifies every signature); one without gets the data as
// stored. A product without is_active fails the transform: nothing is
// sent, the delivery is dead with reason transform and the error in the
// admin API and metrics, and the breaker stays closed. A reload that fixes
// the transform and a redeliver-dead deliver it, transformed.
func TestTransform(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		feed := newRecorder(t, "feed", 1)
		everything := newRecorder(t, "everything", 1)
		w.subscribe("feed", sub{rec: feed, events: []string{"iimmpact.product.*"},
			breaker: map[string]any{"consecutive_failures": 1, "cooldown": "1h"},
			extra:   map[string]any{"transform": feedTransform}})
		w.subscribe("everything", sub{rec: everything})
		g := w.start()

		var subjects []string
		for i := range 4 {
			active := i%2 == 0
			e := catalogProduct(fmt.Sprintf("P%02d", i), i, &active)
			g.mustAccept(e)
			subjects = append(subjects, "product/"+e.ID)
		}
		g.mustAccept(catalogProduct("NOFLAG", 10, nil))

		everything.waitSubjects(t, append(subjects, "product/NOFLAG"), 30*time.Second)
		feed.waitSubjects(t, subjects, 30*time.Second)
		for i, subject := range subjects {
			rc, _ := feed.find("iimmpact.product.updated", subject)
			want := fmt.Sprintf(`{"active":%v,"sku":"P%02d"}`, i%2 == 0, i)
			if got := string(rc.env.Data.Object); got != want {
				t.Errorf("feed got %s data.object %s, want %s", subject, got, want)
			}
			if rc.env.DataContentType != "application/json" || rc.env.Source != "iimmpact" || rc.env.Subject != subject {
				t.Errorf("feed got %s with attributes %+v", subject, rc.env)
			}
			// The trace context the event was stored with is kept: the
			// transform replaces data, nothing else.
			if stored := g.event(t, rc.env.ID).Event; rc.env.TraceParent == "" || rc.env.TraceParent != stored.TraceParent {
				t.Errorf("feed got %s with traceparent %q, stored %q", subject, rc.env.TraceParent, stored.TraceParent)
			}
			if plain, _ := everything.find("iimmpact.product.updated", subject); !strings.Contains(string(plain.env.Data.Object), `"product_code":"P`) {
				t.Errorf("everything, with no transform, got data.object %s", plain.env.Data.Object)
			}
		}

		// NOFLAG: dead for the transform, nothing sent.
		id := g.eventID(t, "iimmpact.product.updated", "product/NOFLAG")
		const why = "transform: no such key: is_active"
		d := g.waitDelivery(t, id, "feed", "dead")
		if d.DeadReason != "transform" || d.Attempts != 1 || len(d.History) != 1 ||
			d.History[0].Error != why || d.History[0].StatusCode != 0 || d.LastError != why {
			t.Errorf("NOFLAG to feed: %+v; want dead after 1 attempt, reason transform, error %q", d, why)
		}
		if _, ok := feed.find("iimmpact.product.updated", "product/NOFLAG"); ok {
			t.Error("feed received NOFLAG, whose transform failed")
		}
		var dead []struct {
			EventID    string `json:"event_id"`
			DeadReason string `json:"dead_reason"`
		}
		g.adminGet(t, "/admin/api/dead?subscriber=feed&reason=transform", &dead)
		if len(dead) != 1 || dead[0].EventID != id || dead[0].DeadReason != "transform" {
			t.Errorf("GET /admin/api/dead?subscriber=feed&reason=transform = %+v, want %s", dead, id)
		}
		// (last_error is not asked: a delivery of another event that
		// succeeds after it clears it.)
		if s := g.subscribers(t)["feed"]; s.Breaker != "closed" || s.Dead != 1 {
			t.Errorf("feed: breaker %q, dead %d; want closed, 1", s.Breaker, s.Dead)
		}
		if text := g.metricsText(t); !strings.Contains(text, `hookgate_delivery_dead_total{reason="transform",subscriber="feed"} 1`+"\n") {
			t.Errorf("/metrics: %s", grepLines(text, `reason="transform"`))
		}

		// A reload to a transform that does not type check is refused.
		w.subscribers["feed"].(map[string]any)["transform"] = `{"sku": event.type + 1}`
		w.rewrite(g)
		if code, err := g.adminDo(http.MethodPost, "/admin/api/reload", nil); err != nil || code/100 == 2 {
			t.Errorf("reload to a transform with a type error: %s, want it refused", statusDetail(code, err))
		}
		// The fix, then the redelivery.
		w.subscribers["feed"].(map[string]any)["transform"] = feedTransformFixed
		w.rewrite(g)
		if code, err := g.adminDo(http.MethodPost, "/admin/api/reload", nil); err != nil || code/100 != 2 {
			t.Fatalf("reload to the fixed transform: %s", statusDetail(code, err))
		}
		if code, err := g.adminDo(http.MethodPost, "/admin/api/subscribers/feed/redeliver-dead", nil); err != nil || code != http.StatusAccepted {
			t.Fatalf("redeliver-dead: %s", statusDetail(code, err))
		}
		feed.waitSubjects(t, []string{"product/NOFLAG"}, 30*time.Second)
		if rc, _ := feed.find("iimmpact.product.updated", "product/NOFLAG"); string(rc.env.Data.Object) != `{"active":false,"sku":"NOFLAG"}` {
			t.Errorf("NOFLAG after the fix: data.object %s", rc.env.Data.Object)
		}
		g.waitDelivery(t, id, "feed", "delivered")
	})
}
