package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// putStore is a Store that only takes Puts, remembering what each event
// was routed to; every other method is left to the nil embedded Store.
type putStore struct {
	gateway.Store
	mu     sync.Mutex
	routed map[string][]string // envelope subject -> subscribers
}

func (s *putStore) Put(_ context.Context, evs []gateway.NewEvent) ([]gateway.PutResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		if s.routed != nil {
			s.routed[ev.Envelope.Subject] = slices.Clone(ev.Subscribers)
		}
	}
	return make([]gateway.PutResult, len(evs)), nil
}

const filterIngestConfig = `
sources:
  shop:
    provider: iimmpact
    secrets: ["` + ingestSecret + `"]
subscribers:
  active:
    url: "http://127.0.0.1:1/active"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    filter: 'event.data.object.is_active == true'
  updates:
    url: "http://127.0.0.1:1/updates"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    events: ["iimmpact.product.*"]
    filter: 'event.type.endsWith(".updated")'
  all:
    url: "http://127.0.0.1:1/all"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
`

// iimmpactBody is an IIMMPACT webhook of type typ for product id, with
// data (JSON).
func iimmpactBody(typ, id, data string) string {
	return fmt.Sprintf(`{"type":%q,"resource":"products","id":%q,"timestamp":"2024-01-15T10:30:00.000Z","data":%s}`, typ, id, data)
}

// TestIngestFilter: filters run after the patterns; a subscriber whose
// filter does not pass gets no delivery and is not woken; a run-time
// error counts as not passing, is reported once per error to the
// observer, and logged at most once a minute per subscriber; a reload
// without the filter delivers everything again.
func TestIngestFilter(t *testing.T) {
	store := &putStore{routed: map[string][]string{}}
	n := &notifications{}
	var logs bytes.Buffer
	in, err := gateway.NewIngester(parseConfig(t, filterIngestConfig), store, gateway.IngesterOptions{
		Notify: n.notify,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := &ingestRecorder{}
	in.SetObserver(rec)

	sends := []struct {
		name, typ, id, data string
		want                []string // subscribers routed to (sorted)
	}{
		{"active product", "product.updated", "A", `{"is_active":true}`, []string{"active", "all", "updates"}},
		{"inactive product", "product.updated", "B", `{"is_active":false}`, []string{"all", "updates"}},
		{"no is_active: a filter error", "product.updated", "C", `{"price":10}`, []string{"all", "updates"}},
		{"deletion, data null: a filter error", "product.deleted", "D", `null`, []string{"all"}},
		{"active again: the route cache is intact", "product.updated", "E", `{"is_active":true}`, []string{"active", "all", "updates"}},
	}
	for _, s := range sends {
		if _, err := in.Ingest(context.Background(), "shop", signedRequest(iimmpactBody(s.typ, s.id, s.data), ingestSecret)); err != nil {
			t.Fatalf("%s: Ingest: %v", s.name, err)
		}
		if got := store.routed["product/"+s.id]; !slices.Equal(got, s.want) {
			t.Errorf("%s: deliveries to %v, want %v", s.name, got, s.want)
		}
		if got := n.take(); !slices.Equal(got, s.want) {
			t.Errorf("%s: woke %v, want %v", s.name, got, s.want)
		}
	}
	if want := []string{"active", "active"}; !slices.Equal(rec.filters, want) {
		t.Errorf("filter errors reported for %v, want %v", rec.filters, want)
	}
	if got := strings.Count(logs.String(), "filter error"); got != 1 || !strings.Contains(logs.String(), "subscriber=active") {
		t.Errorf("logged %d filter error lines, want 1 naming the subscriber:\n%s", got, logs.String())
	}

	// The operator removes the filter: the next inactive product reaches
	// "active" too.
	if err := in.SetConfig(parseConfig(t, strings.Replace(filterIngestConfig,
		"    filter: 'event.data.object.is_active == true'\n", "", 1))); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Ingest(context.Background(), "shop", signedRequest(iimmpactBody("product.updated", "F", `{"is_active":false}`), ingestSecret)); err != nil {
		t.Fatal(err)
	}
	if got, want := store.routed["product/F"], []string{"active", "all", "updates"}; !slices.Equal(got, want) {
		t.Errorf("after the reload: deliveries to %v, want %v", got, want)
	}
}

// TestIngestFilterCompilesUnvalidated: a Config built in code with a
// filter but never validated gets it compiled by the Ingester, or refused.
func TestIngestFilterCompilesUnvalidated(t *testing.T) {
	cfg := parseConfig(t, filterIngestConfig)
	cfg.Subscribers["active"].CompiledFilter = nil
	in, err := gateway.NewIngester(cfg, &putStore{}, gateway.IngesterOptions{})
	if err != nil {
		t.Fatalf("NewIngester: %v", err)
	}
	bad := parseConfig(t, filterIngestConfig)
	bad.Subscribers["active"].Filter, bad.Subscribers["active"].CompiledFilter = "event.type == 3", nil
	if err := in.SetConfig(bad); err == nil || !strings.Contains(err.Error(), "subscriber active: filter:") {
		t.Errorf("SetConfig with a bad uncompiled filter: %v, want it refused", err)
	}
}
