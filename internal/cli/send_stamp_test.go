package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/plugins/catalog360"
	"github.com/hookgate/hookgate/plugins/iimmpact"
)

// TestStampSamples: by default (a nonce) send gives an IIMMPACT sample the
// current time to the millisecond, a new event each time; with -same (no
// nonce) only under max_event_age, rounded down to a grain of at most half
// of it, so that the gateway takes it for fresh and a second send within
// the grain for the same event; without, and for bodies from files, it
// sends them as they are.
func TestStampSamples(t *testing.T) {
	sample, err := iimmpact.Provider{}.Sample("product.updated")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 5, 6, 10, 41, 7, 123456789, time.UTC)
	tests := []struct {
		name   string
		maxAge time.Duration
		nonce  string
		file   bool
		want   string // the body's timestamp
	}{
		{"-same, off", 0, "", false, "2024-01-15T10:30:00.000Z"},
		{"-same, 1h: the quarter hour", time.Hour, "", false, "2030-05-06T10:30:00.000Z"},
		{"-same, 15m: half of it", 15 * time.Minute, "", false, "2030-05-06T10:37:30.000Z"},
		{"-same, a file is sent as it is", time.Hour, "", true, "2024-01-15T10:30:00.000Z"},
		{"new, off: now", 0, "N1", false, "2030-05-06T10:41:07.123Z"},
		{"new, 1h: now", time.Hour, "N1", false, "2030-05-06T10:41:07.123Z"},
		{"new, a file is sent as it is", time.Hour, "N1", true, "2024-01-15T10:30:00.000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs := []sendRequest{{label: "product.updated", body: sample, sample: !tt.file}}
			if err := stampSamples(reqs, iimmpact.Provider{}, tt.maxAge, now, tt.nonce); err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(reqs[0].body, &got); err != nil {
				t.Fatalf("stamped body is not JSON: %v\n%s", err, reqs[0].body)
			}
			if got["timestamp"] != tt.want {
				t.Errorf("timestamp = %v, want %s", got["timestamp"], tt.want)
			}
			if got["id"] != "CELCOM10" || got["data"] == nil {
				t.Errorf("stamped body lost its other fields: %s", reqs[0].body)
			}
		})
	}
}

// decodeOne decodes a body signed with secret by p and returns its only
// event.
func decodeOne(t *testing.T, p gateway.Provider, body []byte) gateway.Event {
	t.Helper()
	secret := []byte("stamp-test-secret")
	name, value := p.Sign(body, secret)
	req := gateway.Request{Header: http.Header{name: {value}}, Body: body, ReceivedAt: time.Now()}
	b, err := p.Decode(req, [][]byte{secret})
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if len(b.Events) != 1 {
		t.Fatalf("decode: %d events, want 1", len(b.Events))
	}
	return b.Events[0]
}

// TestStampSamplesNewEvent: for both providers a stamped sample is the
// sample's event (type, subject, object byte for byte) under a new
// identity; another nonce or time is another event, the same stamp the
// same one.
func TestStampSamplesNewEvent(t *testing.T) {
	now := time.Date(2030, 5, 6, 10, 41, 7, 0, time.UTC)
	for _, tt := range []struct {
		provider gateway.Provider
		typ      string
	}{
		{iimmpact.Provider{}, "product.updated"},
		{catalog360.Provider{}, "assetitem_updated"},
		{catalog360.Provider{}, "category_created"},
		{catalog360.Provider{}, "asset_created"},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			sample, err := tt.provider.(gateway.Sampler).Sample(tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			stamp := func(at time.Time, nonce string) gateway.Event {
				reqs := []sendRequest{{label: tt.typ, body: sample, sample: true}}
				if err := stampSamples(reqs, tt.provider, 0, at, nonce); err != nil {
					t.Fatal(err)
				}
				return decodeOne(t, tt.provider, reqs[0].body)
			}
			orig := decodeOne(t, tt.provider, sample)
			a, again := stamp(now, "N1"), stamp(now, "N1")
			b, c := stamp(now.Add(time.Millisecond), "N1"), stamp(now, "N2")
			if a.Type != orig.Type || a.Subject != orig.Subject || !bytes.Equal(a.Object, orig.Object) || !bytes.Equal(a.Previous, orig.Previous) {
				t.Errorf("stamped event = %s %s %s, want the sample's %s %s %s", a.Type, a.Subject, a.Object, orig.Type, orig.Subject, orig.Object)
			}
			if a.Identity == orig.Identity {
				t.Errorf("stamped sample has the sample's identity: a duplicate of the quick start's last run")
			}
			if a.Identity != again.Identity {
				t.Errorf("the same stamp gave two identities")
			}
			if _, isC360 := tt.provider.(catalog360.Provider); a.Identity == b.Identity || (isC360 && a.Identity == c.Identity) {
				t.Errorf("another time or nonce gave the same identity")
			}
		})
	}
}

// Sends in one millisecond still get distinct stamps, in order.
func TestStampTimeDistinct(t *testing.T) {
	now := time.Now()
	prev := stampTime(now)
	for range 100 {
		got := stampTime(now)
		if !got.After(prev) {
			t.Fatalf("stampTime(%v) = %v after %v: not later", now, got, prev)
		}
		prev = got
	}
}
