package loadgen

import (
	"encoding/json"
	"testing"
	"time"
)

// The well-known HMAC-SHA256 test vector (key "key", the quick brown fox),
// so the provider rules are checked against an outside answer, not against
// this package's own arithmetic.
const (
	foxBody = "The quick brown fox jumps over the lazy dog"
	foxHex  = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	foxB64  = "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
)

func TestProviderSignatures(t *testing.T) {
	tests := []struct {
		name string
		sign func(body, secret []byte) string
		want string
	}{
		{"iimmpact hex with sha256= prefix", SignIimmpact, "sha256=" + foxHex},
		{"catalog360 padded std base64", SignCatalog360, foxB64},
	}
	for _, tt := range tests {
		if got := tt.sign([]byte(foxBody), []byte("key")); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func testPlan(requests int, c360 float64, batch int) Plan {
	return Plan{
		Requests: requests, Catalog360: c360, BatchSize: batch, Seed: 7, RunID: "r1",
		Time:           time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		IimmpactSecret: []byte("ii-secret"), Catalog360Secret: []byte("c3-secret"),
	}
}

const stamp = int64(1700000000123456789)

func TestStampIimmpact(t *testing.T) {
	g, err := NewGenerator(testPlan(3, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if g.Events() != 3 {
		t.Fatalf("Events = %d, want 3", g.Events())
	}
	st := g.NewStamper()
	ids := map[string]bool{}
	for i := 0; i < 3; i++ {
		path, body, h, v := st.Stamp(i, stamp)
		if path != "/webhooks/iimmpact" || h != IimmpactHeader {
			t.Errorf("request %d: path %q header %q, want iimmpact's", i, path, h)
		}
		if got, want := string(v), SignIimmpact(body, []byte("ii-secret")); got != want {
			t.Errorf("request %d: signature %q, want %q", i, got, want)
		}
		var p struct {
			Type, Resource, ID, Timestamp string
			Data                          struct {
				Seq    int   `json:"bench_seq"`
				SentAt int64 `json:"sent_at_ns"`
			}
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("request %d: body is not JSON: %v\n%s", i, err, body)
		}
		if p.Data.Seq != i || p.Data.SentAt != stamp || p.Timestamp != "2024-01-15T10:30:00.000Z" || p.Type == "" || p.Resource == "" {
			t.Errorf("request %d: decoded %+v, want seq %d, sent_at %d, the plan's timestamp", i, p, i, stamp)
		}
		if ids[p.ID] {
			t.Errorf("request %d: id %q repeats", i, p.ID)
		}
		ids[p.ID] = true
	}
}

func TestStampCatalog360Batch(t *testing.T) {
	g, err := NewGenerator(testPlan(2, 1, 3))
	if err != nil {
		t.Fatal(err)
	}
	if g.Events() != 6 {
		t.Fatalf("Events = %d, want 6", g.Events())
	}
	st := g.NewStamper()
	path, body, h, v := st.Stamp(1, stamp)
	if path != "/webhooks/catalog360" || h != Catalog360Header {
		t.Errorf("path %q header %q, want catalog360's", path, h)
	}
	if got, want := string(v), SignCatalog360(body, []byte("c3-secret")); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	var p struct {
		Events []struct {
			EventClass string `json:"event_class"`
			Payload    struct {
				New struct {
					ID     string `json:"id"`
					Seq    int    `json:"bench_seq"`
					SentAt int64  `json:"sent_at_ns"`
				} `json:"new"`
			} `json:"payload"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	if len(p.Events) != 3 {
		t.Fatalf("batch of %d events, want 3", len(p.Events))
	}
	for j, ev := range p.Events {
		if ev.Payload.New.Seq != 3+j || ev.Payload.New.SentAt != stamp || ev.EventClass == "" {
			t.Errorf("event %d: %+v, want seq %d sent_at %d", j, ev, 3+j, stamp)
		}
	}
	if kind, first, n := g.Request(1); kind != Catalog360 || first != 3 || n != 3 {
		t.Errorf("Request(1) = %v %d %d, want catalog360 3 3", kind, first, n)
	}
}

func TestStampReusesBuffersSafely(t *testing.T) {
	g, err := NewGenerator(testPlan(1, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	st := g.NewStamper()
	_, first, _, _ := st.Stamp(0, stamp)
	firstCopy := string(first)
	_, second, _, _ := st.Stamp(0, stamp+1)
	if string(second) == firstCopy {
		t.Errorf("a new stamp left the body unchanged")
	}
	_, again, _, _ := st.Stamp(0, stamp)
	if string(again) != firstCopy {
		t.Errorf("stamping the same time twice gave different bodies")
	}
}

func TestNewGeneratorRejects(t *testing.T) {
	tests := []struct {
		name string
		plan Plan
	}{
		{"mix above 1", testPlan(1, 1.5, 1)},
		{"batch 0", testPlan(1, 0.5, 0)},
		{"batch 101", testPlan(1, 0.5, 101)},
		{"no secret", func() Plan { p := testPlan(1, 0, 1); p.IimmpactSecret = nil; return p }()},
	}
	for _, tt := range tests {
		if _, err := NewGenerator(tt.plan); err == nil {
			t.Errorf("%s: NewGenerator succeeded, want an error", tt.name)
		}
	}
}

func TestMixIsDeterministic(t *testing.T) {
	a, _ := NewGenerator(testPlan(200, 0.3, 2))
	b, _ := NewGenerator(testPlan(200, 0.3, 2))
	c360 := 0
	for i := 0; i < 200; i++ {
		ka, _, _ := a.Request(i)
		kb, _, _ := b.Request(i)
		if ka != kb {
			t.Fatalf("request %d: %v vs %v with one seed", i, ka, kb)
		}
		if ka == Catalog360 {
			c360++
		}
	}
	if c360 == 0 || c360 == 200 {
		t.Errorf("%d of 200 catalog360 with mix 0.3, want some of each", c360)
	}
	if want := 200 + c360; a.Events() != want {
		t.Errorf("Events = %d, want %d", a.Events(), want)
	}
}

// BenchmarkStamp is the generator's per-request cost: copy, stamp, HMAC.
func BenchmarkStamp(b *testing.B) {
	for _, tc := range []struct {
		name  string
		mix   float64
		batch int
	}{{"iimmpact", 0, 1}, {"catalog360x100", 1, 100}} {
		b.Run(tc.name, func(b *testing.B) {
			g, _ := NewGenerator(testPlan(64, tc.mix, tc.batch))
			st := g.NewStamper()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				st.Stamp(i%64, stamp)
			}
		})
	}
}
