package loadgen

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/valyala/fasthttp"
)

var (
	sinkKey    = []byte("0123456789abcdef0123456789abcdef")
	sinkSecret = "whsec_" + base64.StdEncoding.EncodeToString(sinkKey)
	otherKey   = []byte("fedcba9876543210fedcba9876543210")
)

func envelopeBody(id string, seq int, sentAt int64) []byte {
	return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"iimmpact","type":"iimmpact.product.updated","data":{"object":{"bench_seq":%d,"sent_at_ns":%d}}}`, id, seq, sentAt)
}

// deliver POSTs body to url signed with key by the official Standard
// Webhooks library, as hookgate would, and returns the status code.
func deliver(t *testing.T, url string, key []byte, id string, body []byte, extraSig string) int {
	t.Helper()
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 0)
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if extraSig != "" {
		sig = extraSig + " " + sig
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSinkVerifiesAndCounts(t *testing.T) {
	recvAt := time.Unix(0, 1700000000_500_000_000)
	sink, err := NewSink(sinkSecret, 4, 1, func() time.Time { return recvAt })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	sent := int64(1700000000_000_000_000)

	steps := []struct {
		name  string
		key   []byte
		id    string
		body  []byte
		extra string
		want  int
	}{
		{"good", sinkKey, "evt_0", envelopeBody("evt_0", 0, sent), "", 204},
		{"rotation: second entry verifies", sinkKey, "evt_1", envelopeBody("evt_1", 1, sent), "v1,AAAA", 204},
		{"duplicate", sinkKey, "evt_1", envelopeBody("evt_1", 1, sent), "", 204},
		{"wrong key", otherKey, "evt_2", envelopeBody("evt_2", 2, sent), "", 401},
		{"header id differs from envelope id", sinkKey, "evt_x", envelopeBody("evt_3", 3, sent), "", 400},
		{"seq out of range", sinkKey, "evt_9", envelopeBody("evt_9", 9, sent), "", 400},
		{"unaccepted event", sinkKey, "evt_3", envelopeBody("evt_3", 3, sent), "", 204},
	}
	for _, s := range steps {
		if got := deliver(t, srv.URL, s.key, s.id, s.body, s.extra); got != s.want {
			t.Errorf("%s: status %d, want %d", s.name, got, s.want)
		}
	}

	got := sink.Counts([]bool{true, true, true, false})
	want := SinkCounts{Received: 4, Lost: 1, Duplicates: 1, Unaccepted: 1, Verified: 6, BadSignatures: 1, Malformed: 2}
	if got != want {
		t.Errorf("Counts = %+v, want %+v", got, want)
	}
	lat := sink.Latency().Summary()
	if lat.Count != 3 || lat.Max != 500*time.Millisecond {
		t.Errorf("latency %+v, want 3 first receipts of 500ms", lat)
	}
	if sink.Distinct() != 3 || !sink.LastReceipt().Equal(recvAt) {
		t.Errorf("distinct %d, last receipt %v; want 3 and %v", sink.Distinct(), sink.LastReceipt(), recvAt)
	}
}

// A raw sink takes the upstream event itself, as the lean relay delivers
// it: counted by its bench_seq, the sample signature-checked and decoded as
// the event, with any webhook-id.
func TestRawSinkTakesUpstreamBodies(t *testing.T) {
	sink, err := NewRawSink(sinkSecret, 3, 1, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	raw := func(seq int, sentAt int64) []byte {
		return fmt.Appendf(nil, `{"type":"product.updated","id":"BENCH-x-%d","data":{"id":"BENCH-x-%d","bench_seq":%d,"sent_at_ns":%d,"name":"n"}}`, seq, seq, seq, sentAt)
	}
	sent := time.Now().UnixNano()
	steps := []struct {
		name string
		key  []byte
		body []byte
		want int
	}{
		{"upstream body", sinkKey, raw(0, sent), 204},
		{"wrong key", otherKey, raw(1, sent), 401},
		{"an envelope is not an upstream body", sinkKey, envelopeBody("evt_2", 2, sent), 400},
	}
	for i, s := range steps {
		if got := deliver(t, srv.URL, s.key, fmt.Sprintf("1700000000000-%d", i), s.body, ""); got != s.want {
			t.Errorf("%s: status %d, want %d", s.name, got, s.want)
		}
	}
	got := sink.Counts([]bool{true, true, true})
	want := SinkCounts{Received: 1, Lost: 2, Verified: 3, BadSignatures: 1, Malformed: 1}
	if got != want {
		t.Errorf("Counts = %+v, want %+v", got, want)
	}
}

// A sampling sink checks the signature of every verifyEvery-th delivery
// only, and counts the rest by the event they carry, served by fasthttp as
// hookbench serves it.
func TestSinkSamplesSignatures(t *testing.T) {
	sink, err := NewSink(sinkSecret, 8, 4, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: sink.ServeFast}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Shutdown() })
	url := "http://" + l.Addr().String() + "/hook"
	sent := time.Now().UnixNano()

	// Arrivals 0 and 4 are the sample; the wrong key is caught only there.
	steps := []struct {
		key  []byte
		seq  int
		want int
	}{
		{sinkKey, 0, 204},
		{otherKey, 1, 204},
		{otherKey, 2, 204},
		{sinkKey, 3, 204},
		{otherKey, 4, 401},
		{sinkKey, 5, 204},
	}
	for i, s := range steps {
		id := fmt.Sprintf("evt_%d", s.seq)
		if got := deliver(t, url, s.key, id, envelopeBody(id, s.seq, sent), ""); got != s.want {
			t.Errorf("arrival %d: status %d, want %d", i, got, s.want)
		}
	}
	got := sink.Counts([]bool{true, true, true, true, true, true, false, false})
	want := SinkCounts{Received: 5, Lost: 1, Verified: 2, BadSignatures: 1}
	if got != want {
		t.Errorf("Counts = %+v, want %+v", got, want)
	}
}

func TestScanInt(t *testing.T) {
	tests := []struct {
		body   string
		want   int64
		wantOK bool
	}{
		{`{"bench_seq":42,"x":1}`, 42, true},
		{`{"bench_seq": 7}`, 7, true},
		{`{"a":{"bench_seq":3},"b":{"bench_seq":9}}`, 3, true},
		{`{"bench_seq":"4"}`, 0, false},
		{`{"bench_seq":-1}`, 0, false},
		{`{"seq":1}`, 0, false},
		{`{"bench_seq":99999999999999999999}`, 0, false},
	}
	for _, tt := range tests {
		got, ok := scanInt([]byte(tt.body), seqKey)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("scanInt(%s) = %d, %v; want %d, %v", tt.body, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestVerifyStandard(t *testing.T) {
	body := []byte(`{"id":"evt_1"}`)
	wh, _ := standardwebhooks.NewWebhookRaw(sinkKey)
	good, _ := wh.Sign("evt_1", time.Unix(1700000000, 0), body)
	tests := []struct {
		name, id, ts, sig string
		want              bool
	}{
		{"official signature", "evt_1", "1700000000", good, true},
		{"other timestamp", "evt_1", "1700000001", good, false},
		{"other id", "evt_2", "1700000000", good, false},
		{"no v1 prefix", "evt_1", "1700000000", good[3:], false},
		{"missing id", "", "1700000000", good, false},
		{"missing signature", "evt_1", "1700000000", "", false},
		{"garbage then good", "evt_1", "1700000000", "v1,!!! " + good, true},
	}
	for _, tt := range tests {
		if got := VerifyStandard(sinkKey, tt.id, tt.ts, tt.sig, body); got != tt.want {
			t.Errorf("%s: VerifyStandard = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDecodeWhsec(t *testing.T) {
	tests := []struct {
		in     string
		wantOK bool
	}{
		{sinkSecret, true},
		{"whsec_", false},
		{"whsec_not*base64", false},
		{base64.StdEncoding.EncodeToString(sinkKey), false},
	}
	for _, tt := range tests {
		key, err := DecodeWhsec(tt.in)
		if (err == nil) != tt.wantOK {
			t.Errorf("DecodeWhsec: err %v, want ok=%v", err, tt.wantOK)
		}
		if err == nil && !bytes.Equal(key, sinkKey) {
			t.Errorf("DecodeWhsec: wrong key")
		}
	}
}
