package deliver

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

func testUpdate(t *testing.T, bk backend) {
	st := bk.open(t)
	ska, skb := newSink(t, nil), newSink(t, nil)
	down := newSink(t, func(request, int) (int, http.Header) { return 500, nil })
	broken := testSub("c", down.URL)
	broken.Breaker = gateway.BreakerConfig{ConsecutiveFailures: 1, Cooldown: time.Hour}
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{
		"a": testSub("a", ska.URL),
		"c": broken,
	}, testOptions(t))
	putEvents(t, st, 1, time.Now(), "c")
	waitFor(t, "c's breaker open", func() bool { return e.Breaker("c") == "open" })

	// Add b, remove a, keep c with equal settings (a new pointer, as a
	// reload makes).
	same := *broken
	e.Update(map[string]*gateway.SubscriberConfig{"b": testSub("b", skb.URL), "c": &same})
	if got := e.Breaker("c"); got != "open" {
		t.Errorf("c's breaker after an unchanged reload = %q, want open", got)
	}
	if got := e.Breaker("a"); got != "" {
		t.Errorf("Breaker of removed subscriber = %q, want \"\"", got)
	}
	ids := putEvents(t, st, 3, time.Now(), "a", "b")
	e.Notify("a")
	e.Notify("b")
	waitFor(t, "delivered to b", statusIs(t, st, "b", gateway.StatusDelivered, ids...))
	for _, id := range ids {
		if d := delivery(t, st, id, "a"); d.Attempts != 0 || d.Status != gateway.StatusPending {
			t.Errorf("removed subscriber's delivery %s: %s with %d attempts, want pending with 0", id, d.Status, d.Attempts)
		}
	}

	// Changed breaker settings start a fresh breaker; a comes back and
	// its waiting work goes out.
	changed := *broken
	changed.Breaker.Cooldown = 2 * time.Hour
	e.Update(map[string]*gateway.SubscriberConfig{"a": testSub("a", ska.URL), "b": testSub("b", skb.URL), "c": &changed})
	if got := e.Breaker("c"); got != "closed" {
		t.Errorf("c's breaker after its settings changed = %q, want closed", got)
	}
	waitFor(t, "delivered to a", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
	if got, want := e.Subscribers(), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("Subscribers = %v, want %v", got, want)
	}
}

func testPaused(t *testing.T, bk backend) {
	st := bk.open(t)
	sk := newSink(t, nil)
	ctx := context.Background()
	if err := st.SetPaused(ctx, "a", gateway.PauseAdmin); err != nil {
		t.Fatal(err)
	}
	ids := putEvents(t, st, 3, time.Now(), "a")
	o := testOptions(t)
	o.PausedFor = time.Hour // only Notify makes the resume visible
	e := startEngine(t, st, map[string]*gateway.SubscriberConfig{"a": testSub("a", sk.URL)}, o)
	e.Notify("a")
	time.Sleep(50 * time.Millisecond) // let the dispatcher loop; not an assertion on time
	if n := sk.total(); n != 0 {
		t.Fatalf("paused subscriber got %d requests, want 0", n)
	}
	for _, id := range ids {
		if d := delivery(t, st, id, "a"); d.Attempts != 0 {
			t.Errorf("%s: %d attempts while paused, want 0", id, d.Attempts)
		}
	}
	if err := st.SetPaused(ctx, "a", gateway.PauseNone); err != nil {
		t.Fatal(err)
	}
	e.Notify("a") // as the admin API's resume does
	waitFor(t, "delivered after resume", statusIs(t, st, "a", gateway.StatusDelivered, ids...))
}
