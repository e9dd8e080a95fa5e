package gateway_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/boltstore"
)

// ingestRecorder is an IngestObserver that keeps what it is told.
type ingestRecorder struct {
	mu      sync.Mutex
	events  []string // "source type result"
	filters []string
}

func (r *ingestRecorder) IngestEvent(source, typ, result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, source+" "+typ+" "+result)
}

func (r *ingestRecorder) FilterError(subscriber string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.filters = append(r.filters, subscriber)
}

// TestIngestObserver: each event of an authentic request is reported once
// with its source, type and result (stored, duplicate, stale); refused
// requests report nothing; FilterError reaches the observer.
func TestIngestObserver(t *testing.T) {
	store, err := boltstore.Open(gateway.StoreConfig{Path: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg := parseConfig(t, `
sources:
  guarded:
    provider: iimmpact
    secrets: ["`+ingestSecret+`"]
    max_event_age: 20m
subscribers:
  all:
    url: "http://127.0.0.1:1/all"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
`)
	in, err := gateway.NewIngester(cfg, store, gateway.IngesterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &ingestRecorder{}
	in.SetObserver(rec)
	eventTime := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	send := func(typ, id string, received time.Time, secret string) {
		req := signedRequest(`{"type":"`+typ+`","resource":"products","id":"`+id+`","timestamp":"2024-01-15T10:30:00.000Z","data":{"id":"x"}}`, secret)
		req.ReceivedAt = received
		in.Ingest(context.Background(), "guarded", req)
	}
	send("product.updated", "A1", eventTime.Add(time.Minute), ingestSecret)
	send("product.updated", "A1", eventTime.Add(time.Minute), ingestSecret)
	send("product.renamed", "A2", eventTime.Add(time.Minute), ingestSecret) // unknown type: passed through
	send("product.updated", "A3", eventTime.Add(time.Hour), ingestSecret)
	send("product.updated", "A4", eventTime.Add(time.Minute), "wrong secret")
	in.FilterError("all")

	want := []string{
		"guarded iimmpact.product.updated stored",
		"guarded iimmpact.product.updated duplicate",
		"guarded iimmpact.product.renamed stored",
		"guarded iimmpact.product.updated stale",
	}
	if !slices.Equal(rec.events, want) {
		t.Errorf("observed %q, want %q", rec.events, want)
	}
	if !slices.Equal(rec.filters, []string{"all"}) {
		t.Errorf("filter errors %q, want [all]", rec.filters)
	}

	in.SetObserver(nil)
	send("product.updated", "A5", eventTime.Add(time.Minute), ingestSecret)
	in.FilterError("all")
	if len(rec.events) != len(want) || len(rec.filters) != 1 {
		t.Errorf("a removed observer was told of more: %q %q", rec.events, rec.filters)
	}
}
