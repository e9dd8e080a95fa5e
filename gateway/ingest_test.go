package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/boltstore"
	"github.com/hookgate/hookgate/gateway/config"
	"github.com/hookgate/hookgate/plugins/catalog360"
	"github.com/hookgate/hookgate/plugins/iimmpact"
)

const ingestSecret = "iimmpact-test-secret"

// ingestConfig routes product events to "products", everything to "all",
// and nothing from iimmpact to "other".
const ingestConfig = `
sources:
  shop:
    provider: iimmpact
    secrets: ["` + ingestSecret + `"]
  elsewhere:
    provider: iimmpact
    secrets: ["another-secret"]
  c360:
    provider: catalog360
    secrets: ["c360-key"]
subscribers:
  products:
    url: "http://127.0.0.1:1/products"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    events: ["iimmpact.product.*"]
  all:
    url: "http://127.0.0.1:1/all"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
  other:
    url: "http://127.0.0.1:1/other"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    sources: ["elsewhere"]
`

func parseConfig(t *testing.T, yaml string) *gateway.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	return cfg
}

// notifications records the subscribers Ingest wakes.
type notifications struct {
	mu   sync.Mutex
	subs []string
}

func (n *notifications) notify(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.subs = append(n.subs, s)
}

func (n *notifications) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.subs
	n.subs = nil
	slices.Sort(out)
	return out
}

func newIngester(t *testing.T) (*gateway.Ingester, gateway.Store, *notifications) {
	t.Helper()
	store, err := boltstore.Open(gateway.StoreConfig{Path: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	n := &notifications{}
	in, err := gateway.NewIngester(parseConfig(t, ingestConfig), store, gateway.IngesterOptions{Notify: n.notify})
	if err != nil {
		t.Fatal(err)
	}
	return in, store, n
}

var received = time.Date(2024, 1, 15, 10, 31, 0, 0, time.UTC)

func signedRequest(body, secret string) gateway.Request {
	name, value := iimmpact.Provider{}.Sign([]byte(body), []byte(secret))
	h := http.Header{}
	h.Set(name, value)
	return gateway.Request{Header: h, Body: []byte(body), ReceivedAt: received}
}

const productUpdated = `{"type":"product.updated","resource":"products","id":"CELCOM10","timestamp":"2024-01-15T10:30:00.000Z","data":{"id":"CELCOM10","price":10}}`

func TestIngestStoresRoutesAndNotifies(t *testing.T) {
	in, store, n := newIngester(t)
	ctx := context.Background()

	got, err := in.Ingest(ctx, "shop", signedRequest(productUpdated, ingestSecret))
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	if want := (gateway.IngestResult{Stored: 1}); got != want {
		t.Errorf("result = %+v, want %+v", got, want)
	}
	if got, want := n.take(), []string{"all", "products"}; !slices.Equal(got, want) {
		t.Errorf("notified %v, want %v", got, want)
	}

	page, err := store.List(ctx, gateway.EventFilter{Source: "shop"})
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("List = %+v, %v; want one event", page, err)
	}
	rec, err := store.Event(ctx, page.Events[0].ID)
	if err != nil {
		t.Fatalf("Event: %v", err)
	}
	var env gateway.Envelope
	if err := json.Unmarshal(rec.Envelope, &env); err != nil {
		t.Fatalf("stored envelope is not JSON: %v", err)
	}
	if env.ID != rec.ID || env.Source != "shop" || env.Type != "iimmpact.product.updated" || env.Subject != "product/CELCOM10" {
		t.Errorf("envelope = %+v, want id %s, source shop, type iimmpact.product.updated, subject product/CELCOM10", env, rec.ID)
	}
	if !rec.ReceivedAt.Equal(received) {
		t.Errorf("received_at = %v, want %v", rec.ReceivedAt, received)
	}
	var subs []string
	for _, d := range rec.Deliveries {
		subs = append(subs, d.Subscriber)
	}
	if want := []string{"all", "products"}; !slices.Equal(subs, want) {
		t.Errorf("deliveries to %v, want %v", subs, want)
	}

	// The upstream redelivers: recognized, nothing new, nobody woken.
	got, err = in.Ingest(ctx, "shop", signedRequest(productUpdated, ingestSecret))
	if err != nil {
		t.Fatalf("Ingest again: %v", err)
	}
	if want := (gateway.IngestResult{Duplicates: 1}); got != want {
		t.Errorf("redelivery result = %+v, want %+v", got, want)
	}
	if got := n.take(); len(got) != 0 {
		t.Errorf("redelivery notified %v, want nobody", got)
	}
	if rec, _ := store.Event(ctx, page.Events[0].ID); rec.Duplicates != 1 {
		t.Errorf("duplicates = %d, want 1", rec.Duplicates)
	}
	if got, want := in.Counts()["shop"], (gateway.IngestCounts{Stored: 1, Duplicates: 1}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
}

func TestIngestRefuses(t *testing.T) {
	tests := []struct {
		name   string
		source string
		req    gateway.Request
		want   error
	}{
		{"unknown source", "nope", signedRequest(productUpdated, ingestSecret), gateway.ErrUnknownSource},
		{"wrong secret", "shop", signedRequest(productUpdated, "not-the-secret"), gateway.ErrSignature},
		{"no signature", "shop", gateway.Request{Header: http.Header{}, Body: []byte(productUpdated)}, gateway.ErrSignature},
		{"not a payload", "shop", signedRequest(`{"hello":`, ingestSecret), gateway.ErrPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, store, n := newIngester(t)
			_, err := in.Ingest(context.Background(), tt.source, tt.req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if page, _ := store.List(context.Background(), gateway.EventFilter{}); len(page.Events) != 0 {
				t.Errorf("stored %d events, want none", len(page.Events))
			}
			if got := n.take(); len(got) != 0 {
				t.Errorf("notified %v, want nobody", got)
			}
		})
	}
}

func TestIngestStoreDownIsUnavailable(t *testing.T) {
	in, store, n := newIngester(t)
	store.Close()
	_, err := in.Ingest(context.Background(), "shop", signedRequest(productUpdated, ingestSecret))
	if !errors.Is(err, gateway.ErrUnavailable) {
		t.Fatalf("err = %v, want %v", err, gateway.ErrUnavailable)
	}
	if got := n.take(); len(got) != 0 {
		t.Errorf("notified %v, want nobody", got)
	}
}

func TestIngestSetConfigReroutes(t *testing.T) {
	in, store, n := newIngester(t)
	// Only "other" now takes everything from shop.
	next := parseConfig(t, `
sources:
  shop:
    provider: iimmpact
    secrets: ["rotated", "`+ingestSecret+`"]
subscribers:
  other:
    url: "http://127.0.0.1:1/other"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
`)
	if err := in.SetConfig(next); err != nil {
		t.Fatalf("SetConfig: %v", err)
	}
	if in.Config() != next {
		t.Errorf("Config() is not the config set")
	}
	if _, err := in.Ingest(context.Background(), "shop", signedRequest(productUpdated, "rotated")); err != nil {
		t.Fatalf("Ingest with the rotated secret: %v", err)
	}
	if got, want := n.take(), []string{"other"}; !slices.Equal(got, want) {
		t.Errorf("notified %v, want %v", got, want)
	}
	page, _ := store.List(context.Background(), gateway.EventFilter{Subscriber: "other"})
	if len(page.Events) != 1 {
		t.Errorf("events for other = %d, want 1", len(page.Events))
	}
	// Counters survive the reload.
	if err := in.SetConfig(parseConfig(t, ingestConfig)); err != nil {
		t.Fatal(err)
	}
	if got := in.Counts()["shop"].Stored; got != 1 {
		t.Errorf("stored count after another reload = %d, want 1", got)
	}
}

func TestIngestUnroutedIsStored(t *testing.T) {
	in, store, n := newIngester(t)
	cfg := parseConfig(t, `
sources:
  shop:
    provider: iimmpact
    secrets: ["`+ingestSecret+`"]
subscribers:
  groups:
    url: "http://127.0.0.1:1/groups"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    events: ["iimmpact.group.*"]
`)
	if err := in.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	got, err := in.Ingest(context.Background(), "shop", signedRequest(productUpdated, ingestSecret))
	if err != nil || got.Stored != 1 {
		t.Fatalf("Ingest = %+v, %v; want 1 stored", got, err)
	}
	if got := n.take(); len(got) != 0 {
		t.Errorf("notified %v, want nobody", got)
	}
	page, _ := store.List(context.Background(), gateway.EventFilter{Status: gateway.StatusUnrouted})
	if len(page.Events) != 1 {
		t.Errorf("unrouted events = %d, want 1", len(page.Events))
	}
}

func c360Request(body, key string) gateway.Request {
	name, value := catalog360.Provider{}.Sign([]byte(body), []byte(key))
	h := http.Header{}
	h.Set(name, value)
	return gateway.Request{Header: h, Body: []byte(body), ReceivedAt: received}
}

func TestIngestBatchAndRegistrationTest(t *testing.T) {
	in, store, n := newIngester(t)
	ctx := context.Background()

	got, err := in.Ingest(ctx, "c360", c360Request(`{"events":[]}`, catalog360.TestKey))
	if err != nil {
		t.Fatalf("registration test: %v", err)
	}
	if want := (gateway.IngestResult{Test: true}); got != want {
		t.Errorf("registration test result = %+v, want %+v", got, want)
	}

	batch := `{"events":[
		{"event_class":"assetitem_created","payload_class":"assetitem","payload":{"new":{"id":1,"name":"a"}}},
		{"event_class":"assetitem_updated","payload_class":"assetitem","payload":{"old":{"id":2,"name":"b"},"new":{"id":2,"name":"c"}}},
		{"event_class":"assetitem_created","payload_class":"assetitem","payload":{"new":{"id":1,"name":"a"}}}
	]}`
	got, err = in.Ingest(ctx, "c360", c360Request(batch, "c360-key"))
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	// The third event is the first again: one Put stores it once.
	if got.Stored != 2 || got.Stored+got.Duplicates != 3 {
		t.Errorf("batch result = %+v, want 2 stored of 3", got)
	}
	// Each subscriber is woken once per request, however many events.
	if got, want := n.take(), []string{"all"}; !slices.Equal(got, want) {
		t.Errorf("notified %v, want %v", got, want)
	}
	page, _ := store.List(ctx, gateway.EventFilter{Source: "c360"})
	if len(page.Events) != 2 {
		t.Errorf("stored %d events, want 2", len(page.Events))
	}
	if got := in.Counts()["c360"]; got.Tests != 1 || got.Stored != 2 {
		t.Errorf("counts = %+v, want 1 test and 2 stored", got)
	}
	if got := in.TestRequests(); got != 1 {
		t.Errorf("TestRequests = %d, want 1", got)
	}

	if _, err := in.Ingest(ctx, "c360", c360Request(batch, catalog360.TestKey)); !errors.Is(err, gateway.ErrSignature) {
		t.Errorf("non-empty batch signed with the test key: err = %v, want %v", err, gateway.ErrSignature)
	}
}

// max_event_age: an event whose provider time is older than that at
// receipt is acknowledged and counted, not stored or fanned out; one just
// inside the window, and events that carry no provider time, go through.
func TestIngestMaxEventAge(t *testing.T) {
	store, err := boltstore.Open(gateway.StoreConfig{Path: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	n := &notifications{}
	cfg := parseConfig(t, `
sources:
  guarded:
    provider: iimmpact
    secrets: ["`+ingestSecret+`"]
    max_event_age: 20m
  c360:
    provider: catalog360
    secrets: ["c360-key"]
    max_event_age: 1s
subscribers:
  all:
    url: "http://127.0.0.1:1/all"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
`)
	in, err := gateway.NewIngester(cfg, store, gateway.IngesterOptions{Notify: n.notify})
	if err != nil {
		t.Fatal(err)
	}
	event := func(id string) string {
		return `{"type":"product.updated","resource":"products","id":"` + id + `","timestamp":"2024-01-15T10:30:00.000Z","data":{"id":"x"}}`
	}
	eventTime := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	tests := []struct {
		name     string
		id       string
		received time.Time
		want     gateway.IngestResult
	}{
		{"fresh", "A1", eventTime.Add(time.Minute), gateway.IngestResult{Stored: 1}},
		{"exactly at the limit", "A2", eventTime.Add(20 * time.Minute), gateway.IngestResult{Stored: 1}},
		{"stale", "A3", eventTime.Add(20*time.Minute + time.Millisecond), gateway.IngestResult{Stale: 1}},
		{"stale replay of a stored event", "A1", eventTime.Add(time.Hour), gateway.IngestResult{Stale: 1}},
	}
	for _, tc := range tests {
		req := signedRequest(event(tc.id), ingestSecret)
		req.ReceivedAt = tc.received
		got, err := in.Ingest(context.Background(), "guarded", req)
		if err != nil || got != tc.want {
			t.Errorf("%s: Ingest = %+v, %v; want %+v, nil", tc.name, got, err, tc.want)
		}
	}
	page, err := store.List(context.Background(), gateway.EventFilter{Source: "guarded"})
	if err != nil || len(page.Events) != 2 {
		t.Errorf("stored %d events (%v), want 2: stale ones are not stored", len(page.Events), err)
	}
	if got := in.Counts()["guarded"]; got.Stale != 2 || got.Stored != 2 {
		t.Errorf("counts = %+v, want 2 stored, 2 stale", got)
	}

	// catalog360 events carry no provider time: never stale.
	body := `{"events":[{"event_class":"assetitem_updated","payload_class":"assetitem","payload":{"new":{"id":"a1"}}}]}`
	name, value := catalog360.Provider{}.Sign([]byte(body), []byte("c360-key"))
	h := http.Header{}
	h.Set(name, value)
	got, err := in.Ingest(context.Background(), "c360", gateway.Request{Header: h, Body: []byte(body), ReceivedAt: eventTime.Add(time.Hour)})
	if err != nil || got != (gateway.IngestResult{Stored: 1}) {
		t.Errorf("catalog360 with max_event_age: Ingest = %+v, %v; want 1 stored", got, err)
	}
}

// The registration test's key is public, so anyone can send it in a loop:
// it is logged once a minute with a count of the lines held back, never
// once per request.
func TestIngestRegistrationTestLogIsLimited(t *testing.T) {
	store, err := boltstore.Open(gateway.StoreConfig{Path: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	in, err := gateway.NewIngester(parseConfig(t, ingestConfig), store, gateway.IngesterOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	send := func(at time.Time) {
		req := c360Request(`{"events":[]}`, catalog360.TestKey)
		req.ReceivedAt = at
		if _, err := in.Ingest(context.Background(), "c360", req); err != nil {
			t.Fatalf("registration test: %v", err)
		}
	}
	for i := range 50 {
		send(received.Add(time.Duration(i) * time.Millisecond))
	}
	if got := strings.Count(logs.String(), "registration test received"); got != 1 {
		t.Errorf("50 tests within a second logged %d lines, want 1", got)
	}
	send(received.Add(2 * time.Minute))
	if got := strings.Count(logs.String(), "registration test received"); got != 2 {
		t.Errorf("a test a minute later: %d lines in all, want 2", got)
	}
	if !strings.Contains(logs.String(), "unlogged=49") {
		t.Errorf("second line does not count the 49 held back:\n%s", logs.String())
	}
	if got := in.TestRequests(); got != 51 {
		t.Errorf("TestRequests = %d, want 51: every test is counted", got)
	}
}
