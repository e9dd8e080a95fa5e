package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/boltstore"
	"github.com/hookgate/hookgate/gateway/config"
)

const backfillConfig = `
sources:
  shop: {provider: iimmpact, secrets: ["k"]}
subscribers:
  old: {url: "http://127.0.0.1:1/x", secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=", backfill: 1h}
  indexer:
    url: "http://127.0.0.1:1/x"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    events: ["iimmpact.product.*"]
    filter: 'event.data.object.price > 10.0'
    backfill: %s
  plain: {url: "http://127.0.0.1:1/x", secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=", backfill: %s}
`

// backfillRig is a store holding events received before base, and the
// parts a backfiller needs around it.
type backfillRig struct {
	store gateway.Store
	base  time.Time
	// products are the ids of the events the indexer's routing and filter
	// accept, received in the hour before base, in receipt order.
	products []string
}

func newBackfillRig(t *testing.T) *backfillRig {
	t.Helper()
	s, err := boltstore.Open(gateway.StoreConfig{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := &backfillRig{store: s, base: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	put := func(ago time.Duration, typ string, price float64, subs ...string) string {
		env := gateway.NewEnvelope("shop", gateway.Event{Identity: fmt.Sprint(ago, typ, price), Type: typ,
			Subject: "product/P", Object: json.RawMessage(fmt.Sprintf(`{"price": %v}`, price))}, r.base.Add(-ago))
		body, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Put(context.Background(), []gateway.NewEvent{{Envelope: env, Body: body,
			ReceivedAt: r.base.Add(-ago), Subscribers: subs}})
		if err != nil {
			t.Fatal(err)
		}
		return env.ID
	}
	put(2*time.Hour, "iimmpact.product.updated", 50, "old") // before the window
	r.products = append(r.products, put(50*time.Minute, "iimmpact.product.updated", 20, "old"))
	put(40*time.Minute, "iimmpact.product.updated", 5, "old") // the filter says no
	put(30*time.Minute, "iimmpact.option.updated", 50, "old") // not routed to the indexer
	r.products = append(r.products, put(20*time.Minute, "iimmpact.product.created", 11))
	r.products = append(r.products, put(10*time.Minute, "iimmpact.product.updated", 99, "old"))
	return r
}

// backfiller returns a started backfiller over the rig's store with the
// config, at the rig's base time.
func (r *backfillRig) backfiller(t *testing.T, indexerBackfill, plainBackfill string) *backfiller {
	t.Helper()
	cfg, err := config.Parse("config.yaml", []byte(fmt.Sprintf(backfillConfig, indexerBackfill, plainBackfill)), nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := gateway.NewIngester(cfg, r.store, gateway.IngesterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := newBackfiller(r.store, in, func(string) {}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(b.stop)
	// The tests call mark themselves; the loop, never woken, reads none.
	b.now = func() time.Time { return r.base }
	b.pause, b.settle, b.retry = 0, 0, time.Millisecond
	return b
}

// marked marks the config's subscribers, as apply has the loop do, and
// waits until the backfills it started have ended.
func (b *backfiller) marked(t *testing.T) {
	t.Helper()
	if err := b.mark(); err != nil {
		t.Fatalf("mark: %v", err)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		busy := false
		b.mu.Lock()
		for _, run := range b.runs {
			busy = busy || run.running
		}
		b.mu.Unlock()
		if !busy {
			return
		}
	}
	t.Fatal("backfills still running after a minute")
}

// due is the subscriber's due deliveries in claim order.
func (r *backfillRig) due(t *testing.T, sub string) []string {
	t.Helper()
	cs, err := r.store.Claim(context.Background(), sub, r.base, 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.EventID)
	}
	return ids
}

// TestBackfillNewSubscriber: a subscriber new to the store gets the
// events of its window that its routing and filter accept, in receipt
// order, once; one without backfill gets nothing; one the store held
// deliveries for before the registry existed is not new.
func TestBackfillNewSubscriber(t *testing.T) {
	r := newBackfillRig(t)
	b := r.backfiller(t, "1h", "0s")
	b.marked(t)
	if got := r.due(t, "indexer"); !slices.Equal(got, r.products) {
		t.Errorf("indexer due %v, want %v (the window's accepted events, in receipt order)", got, r.products)
	}
	p, ok := b.Backfill("indexer")
	if want := r.base.Add(-time.Hour); !ok || !p.Done || p.Queued != 3 || !p.Since.Equal(want) {
		t.Errorf("indexer's backfill = %+v, %v; want since %v, queued 3, done", p, ok, want)
	}
	for _, sub := range []string{"plain", "old"} {
		if _, ok := b.Backfill(sub); ok {
			t.Errorf("%s has a backfill, want none", sub)
		}
	}
	if got := r.due(t, "old"); len(got) != 5 {
		t.Errorf("old has %d due, want its 5 own deliveries only (it had deliveries before: not new)", len(got))
	}

	// Restarted, with backfill added to plain and the indexer's changed:
	// both seen before, nothing happens.
	b.stop()
	b2 := r.backfiller(t, "30m", "1h")
	b2.marked(t)
	for _, sub := range []string{"indexer", "plain"} {
		if _, ok := b2.Backfill(sub); ok {
			t.Errorf("after a restart %s is backfilled again", sub)
		}
		if got := r.due(t, sub); len(got) != 0 {
			t.Errorf("after a restart %s has %v due, want nothing", sub, got)
		}
	}
}

// TestBackfillResumes: a backfill left pending (a crash mid-walk) is run
// at the next start, over the window first recorded, and creates only
// the deliveries that are missing.
func TestBackfillResumes(t *testing.T) {
	r := newBackfillRig(t)
	// The first gateway registered the indexer with its window and queued
	// the first event before it died.
	w := gateway.TimeWindow{Since: r.base.Add(-time.Hour), Until: r.base}
	if _, err := r.store.MarkSubscribers(context.Background(), map[string]gateway.TimeWindow{"indexer": w, "plain": {}, "old": {}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.store.Redeliver(context.Background(), r.products[0], "indexer", r.base); err != nil {
		t.Fatal(err)
	}
	// Restarted an hour later with a shorter backfill: the window first
	// recorded is the one walked.
	r.base = r.base.Add(time.Hour)
	b := r.backfiller(t, "10m", "0s")
	b.marked(t)
	if got := r.due(t, "indexer"); len(got) != 3 || !slices.Contains(got, r.products[0]) {
		t.Errorf("indexer due %v after the resumed backfill, want the 3 accepted events once each", got)
	}
	if p, ok := b.Backfill("indexer"); !ok || !p.Done || p.Queued != 2 {
		t.Errorf("resumed backfill = %+v, %v; want done, queued 2 (the missing ones)", p, ok)
	}
	pending, err := r.store.MarkSubscribers(context.Background(), map[string]gateway.TimeWindow{"indexer": w})
	if err != nil || len(pending) != 0 {
		t.Errorf("after the backfill, pending %v, %v; want none", pending, err)
	}
}
