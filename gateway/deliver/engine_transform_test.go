package deliver

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/filter"
)

// transformSub is testSub with the transform given, compiled as config
// validation compiles it.
func transformSub(t *testing.T, name, url, expr string) *gateway.SubscriberConfig {
	t.Helper()
	cfg := testSub(name, url)
	tr, err := filter.CompileTransform(expr, 5<<20)
	if err != nil {
		t.Fatalf("CompileTransform(%q): %v", expr, err)
	}
	cfg.Transform, cfg.CompiledTransform = expr, tr
	return cfg
}

// stored returns the event's stored envelope as generic JSON.
func stored(t *testing.T, s gateway.Store, id string) map[string]any {
	t.Helper()
	rec, err := s.Event(context.Background(), id)
	if err != nil {
		t.Fatalf("Event(%s): %v", id, err)
	}
	b, err := json.Marshal(rec.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// testTransform: a subscriber with a transform receives the envelope with
// its data replaced by the transform's value, every other attribute as
// stored, signed over what was sent (the sink verifies every signature);
// the stored event is unchanged. Another subscriber of the same events
// gets them as stored.
func testTransform(t *testing.T, bk backend) {
	st := bk.open(t)
	ska, skb := newSink(t, nil), newSink(t, nil)
	ids := putEvents(t, st, 3, time.Now(), "a", "b")
	startEngine(t, st, map[string]*gateway.SubscriberConfig{
		"a": transformSub(t, "a", ska.URL, `{"n": event.data.object.n, "key": event.subject}`),
		"b": testSub("b", skb.URL),
	}, testOptions(t))
	waitFor(t, "delivered", func() bool {
		return statusIs(t, st, "a", gateway.StatusDelivered, ids...)() && statusIs(t, st, "b", gateway.StatusDelivered, ids...)()
	})
	if na, nb := len(ska.requests()), len(skb.requests()); na != len(ids) || nb != len(ids) {
		t.Fatalf("requests: a %d, b %d; want %d each", na, nb, len(ids))
	}
	for _, r := range ska.requests() {
		var got map[string]any
		if err := json.Unmarshal(r.Body, &got); err != nil {
			t.Fatalf("a received %s: %v", r.Body, err)
		}
		want := stored(t, st, r.ID)
		n := want["data"].(map[string]any)["object"].(map[string]any)["n"]
		want["data"] = map[string]any{"n": n, "key": want["subject"]}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("a received\n%s\nwant\n%s", gb, wb)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
			t.Errorf("Content-Type = %q", ct)
		}
	}
	for _, r := range skb.requests() {
		if data := stored(t, st, r.ID)["data"]; !strings.Contains(string(r.Body), `"data":{"object":{"n":`) || data == nil {
			t.Errorf("b, with no transform, received %s", r.Body)
		}
	}
}

// testTransformFails: a transform that fails at run time makes the
// delivery dead at once, reason transform, with the error recorded as
// the attempt's; nothing is sent, and the breaker, set to open at the
// first failure, stays closed. A reload that fixes the transform applies
// to the redelivery, which delivers.
func testTransformFails(t *testing.T, bk backend) {
	st := bk.open(t)
	sk := newSink(t, nil)
	bad := transformSub(t, "a", sk.URL, `{"price": event.data.object.price}`)
	bad.Breaker = gateway.BreakerConfig{ConsecutiveFailures: 1, Cooldown: time.Hour}
	ids := putEvents(t, st, 3, time.Now(), "a")
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": bad}, testOptions(t))

	waitFor(t, "dead", statusIs(t, st, "a", gateway.StatusDead, ids...))
	for _, id := range ids {
		d := delivery(t, st, id, "a")
		if d.DeadReason != gateway.DeadTransform || d.Attempts != 1 || d.LastStatusCode != 0 {
			t.Errorf("%s: dead after %d attempts, last status %d, reason %q; want 1, 0, transform",
				id, d.Attempts, d.LastStatusCode, d.DeadReason)
		}
		if len(d.History) != 1 || d.History[0].Error != "transform: no such key: price" || d.History[0].Response != nil {
			t.Errorf("%s: history %+v; want one attempt with error %q", id, d.History, "transform: no such key: price")
		}
		if d.LastError != "transform: no such key: price" {
			t.Errorf("%s: last_error %q", id, d.LastError)
		}
	}
	dead, err := st.Dead(context.Background(), "a", gateway.DeadFilter{Reason: gateway.DeadTransform})
	if err != nil || len(dead) != len(ids) {
		t.Errorf("Dead(a, transform) = %d deliveries, %v; want %d", len(dead), err, len(ids))
	}
	if n := sk.total(); n != 0 {
		t.Errorf("subscriber got %d requests; a failed transform sends nothing", n)
	}
	if got := e.Breaker("a"); got != "closed" {
		t.Errorf("breaker after transform failures = %q, want closed: the subscriber failed at nothing", got)
	}

	// The reload: same URL and breaker, so the breaker is kept.
	fixed := transformSub(t, "a", sk.URL, `{"price": event.data.object.?price.orValue(0), "n": event.data.object.n}`)
	fixed.Breaker = bad.Breaker
	e.Update(map[string]*gateway.SubscriberConfig{"a": fixed})
	if _, err := st.RedeliverDead(context.Background(), "a", time.Now()); err != nil {
		t.Fatal(err)
	}
	e.Notify("a")
	waitFor(t, "delivered after the fix", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	if n := len(sk.requests()); n != len(ids) {
		t.Errorf("requests after the fix: %d, want %d", n, len(ids))
	}
	for _, r := range sk.requests() {
		if !strings.Contains(string(r.Body), `"data":{"n":`) || !strings.Contains(string(r.Body), `"price":0`) {
			t.Errorf("after the fix, received %s", r.Body)
		}
	}
}

// testTransformUncompiled: a transform that no validation compiled fails
// every attempt rather than send the data untransformed.
func testTransformUncompiled(t *testing.T, bk backend) {
	st := bk.open(t)
	sk := newSink(t, nil)
	cfg := testSub("a", sk.URL)
	cfg.Transform = `{"n": event.data.object.n}`
	ids := putEvents(t, st, 1, time.Now(), "a")
	startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": cfg}, testOptions(t))
	waitFor(t, "dead", statusIs(t, st, "a", gateway.StatusDead, ids...))
	if d := delivery(t, st, ids[0], "a"); d.DeadReason != gateway.DeadTransform || !strings.Contains(d.LastError, "not compiled") {
		t.Errorf("reason %q, last_error %q", d.DeadReason, d.LastError)
	}
	if n := sk.total(); n != 0 {
		t.Errorf("subscriber got %d requests", n)
	}
}
