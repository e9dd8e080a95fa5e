package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/boltstore"
)

// whsec is a valid subscriber secret: 24 bytes, base64.
const whsec = "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u"

// requeueEvent is a stored event as a Requeue step shows it, with the
// body ingest would have stored.
func requeueEvent(t *testing.T, source, typ string, object string) gateway.RequeueEvent {
	t.Helper()
	recv := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	env := gateway.NewEnvelope(source, gateway.Event{Identity: source + typ + object, Type: typ,
		Subject: "product/P1", Object: json.RawMessage(object)}, recv)
	body, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return gateway.RequeueEvent{ID: env.ID, Source: source, Type: typ, Subject: env.Subject, ReceivedAt: recv, Body: body}
}

// TestRequeuerAccept: a replayed or backfilled event must pass what ingest
// would have asked of it (the subscriber's sources, events and filter),
// and the replay's own types and sources; a filter error is counted and
// counts as not accepted.
func TestRequeuerAccept(t *testing.T) {
	cfg := parseConfig(t, `sources:
  iimmpact:
    provider: iimmpact
    secrets: ["s3cret-iimmpact"]
  shop:
    provider: iimmpact
    secrets: ["s3cret-shop"]
subscribers:
  s:
    url: https://x.example/h
    secret: `+whsec+`
    events: ["iimmpact.product.*"]
    sources: [iimmpact, shop]
    filter: 'event.data.object.price > 10.0'
  plain:
    url: https://x.example/h
    secret: `+whsec+`
`)
	sub, plain := cfg.Subscribers["s"], cfg.Subscribers["plain"]
	active := requeueEvent(t, "iimmpact", "iimmpact.product.updated", `{"price": 12.5}`)
	pattern := func(s string) gateway.Pattern {
		p, err := gateway.ParsePattern(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name       string
		q          gateway.Requeuer
		ev         gateway.RequeueEvent
		want       bool
		wantErrors int
	}{
		{"routing and filter pass", gateway.Requeuer{Sub: sub}, active, true, 0},
		{"filter says no", gateway.Requeuer{Sub: sub}, requeueEvent(t, "iimmpact", "iimmpact.product.updated", `{"price": 3}`), false, 0},
		{"filter fails: counted, not accepted", gateway.Requeuer{Sub: sub}, requeueEvent(t, "iimmpact", "iimmpact.product.updated", `{"name": "x"}`), false, 1},
		{"type not routed", gateway.Requeuer{Sub: sub}, requeueEvent(t, "iimmpact", "iimmpact.option.updated", `{"price": 12.5}`), false, 0},
		{"source not routed", gateway.Requeuer{Sub: sub}, requeueEvent(t, "other", "iimmpact.product.updated", `{"price": 12.5}`), false, 0},
		{"replay types narrow", gateway.Requeuer{Sub: sub, Types: []gateway.Pattern{pattern("*.product.deleted")}}, active, false, 0},
		{"replay types keep", gateway.Requeuer{Sub: sub, Types: []gateway.Pattern{pattern("*.product.deleted"), pattern("iimmpact.**")}}, active, true, 0},
		{"replay sources narrow", gateway.Requeuer{Sub: sub, Sources: []string{"shop"}}, active, false, 0},
		{"replay sources keep", gateway.Requeuer{Sub: sub, Sources: []string{"shop", "iimmpact"}}, active, true, 0},
		{"no filter, no body needed", gateway.Requeuer{Sub: plain}, gateway.RequeueEvent{ID: "evt_1", Source: "shop", Type: "catalog360.assetitem.updated"}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := 0
			tt.q.FilterError = func(error) { errs++ }
			if got := tt.q.Accept(tt.ev); got != tt.want || errs != tt.wantErrors {
				t.Errorf("Accept = %v with %d filter errors, want %v with %d", got, errs, tt.want, tt.wantErrors)
			}
		})
	}
	if !(gateway.Requeuer{Sub: sub}).Bodies() || (gateway.Requeuer{Sub: plain}).Bodies() {
		t.Errorf("Bodies: want true with a filter only")
	}
}

// stepStore counts the Requeue steps a walk takes, and fails the one
// named.
type stepStore struct {
	gateway.Store
	steps  int
	failAt int
}

func (s *stepStore) Requeue(ctx context.Context, r gateway.RequeueRange, now time.Time) (gateway.RequeueResult, error) {
	s.steps++
	if s.steps == s.failAt {
		return gateway.RequeueResult{}, fmt.Errorf("step %d: %w", s.steps, gateway.ErrUnavailable)
	}
	return s.Store.Requeue(ctx, r, now)
}

// TestRequeueAll: a walk goes on through Next to the window's end, step
// by step; on error it reports what it queued before.
func TestRequeueAll(t *testing.T) {
	bolt, err := boltstore.Open(gateway.StoreConfig{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []gateway.NewEvent
	for i := range 10 {
		env := gateway.NewEnvelope("shop", gateway.Event{Identity: fmt.Sprint(i), Type: "iimmpact.product.updated"}, base)
		evs = append(evs, gateway.NewEvent{Envelope: env, Body: []byte(`{}`), ReceivedAt: base.Add(time.Duration(i) * time.Second)})
	}
	if _, err := bolt.Put(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	w := gateway.TimeWindow{Since: base, Until: base.Add(time.Minute)}
	now := func() time.Time { return base.Add(time.Hour) }

	s := &stepStore{Store: bolt}
	var seen int
	n, err := gateway.RequeueAll(context.Background(), s, gateway.RequeueRange{Subscriber: "a", Window: w, Max: 3},
		gateway.WalkOptions{Now: now, Pause: time.Microsecond, Step: func(r gateway.RequeueResult) { seen += r.Queued }})
	if err != nil || n != 10 || seen != 10 || s.steps != 4 {
		t.Errorf("RequeueAll = %d, %v after %d steps (Step saw %d); want 10, nil after 4 steps of 3", n, err, s.steps, seen)
	}

	s = &stepStore{Store: bolt, failAt: 3}
	n, err = gateway.RequeueAll(context.Background(), s, gateway.RequeueRange{Subscriber: "b", Window: w, Max: 3},
		gateway.WalkOptions{Now: now})
	if !errors.Is(err, gateway.ErrUnavailable) || n != 6 {
		t.Errorf("RequeueAll failing at step 3 = %d, %v; want 6 and the store's error", n, err)
	}
}
