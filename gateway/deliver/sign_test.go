package deliver

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func whsec(key []byte) string { return "whsec_" + base64.StdEncoding.EncodeToString(key) }

func signedHeader(keys [][]byte, id string, ts time.Time, body []byte) http.Header {
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Sign(keys, id, ts, body))
	return h
}

// TestSignVerifiedByOfficialLibrary checks Sign against the Standard
// Webhooks reference implementation, for one key and for a rotation pair
// where each key alone must verify.
func TestSignVerifiedByOfficialLibrary(t *testing.T) {
	k1 := []byte("first-secret-key-32-bytes-long!!")
	k2 := []byte("second-secret-key-also-32-bytes!")
	body := []byte(`{"specversion":"1.0","id":"evt_1","data":{"object":null}}`)
	now := time.Now() // the library checks its tolerance against the wall clock
	tests := []struct {
		name   string
		keys   [][]byte
		verify [][]byte // each must verify alone
	}{
		{"one key", [][]byte{k1}, [][]byte{k1}},
		{"two keys", [][]byte{k1, k2}, [][]byte{k1, k2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := signedHeader(tt.keys, "evt_1", now, body)
			if got, want := len(strings.Fields(h.Get(HeaderSignature))), len(tt.keys); got != want {
				t.Fatalf("signature entries = %d, want %d", got, want)
			}
			for i, k := range tt.verify {
				wh, err := standardwebhooks.NewWebhook(whsec(k))
				if err != nil {
					t.Fatal(err)
				}
				if err := wh.Verify(body, h); err != nil {
					t.Errorf("key %d: official Verify: %v", i, err)
				}
			}
			other, _ := standardwebhooks.NewWebhook(whsec([]byte("not-a-configured-key")))
			if err := other.Verify(body, h); err == nil {
				t.Error("official Verify accepted a key that did not sign")
			}
		})
	}
}

// TestSignMatchesOfficialSign compares bytes, not only verification.
func TestSignMatchesOfficialSign(t *testing.T) {
	key := []byte("k")
	ts := time.Unix(1700000000, 0)
	body := []byte("hello")
	wh, _ := standardwebhooks.NewWebhookRaw(key)
	want, err := wh.Sign("msg_1", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if got := Sign([][]byte{key}, "msg_1", ts, body); got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	k1, k2 := []byte("key-one"), []byte("key-two")
	body := []byte(`{"a":1}`)
	now := time.Unix(1700000000, 0)
	good := signedHeader([][]byte{k1, k2}, "evt_9", now, body)
	tests := []struct {
		name    string
		keys    [][]byte
		h       http.Header
		body    []byte
		now     time.Time
		wantErr error
	}{
		{"first key", [][]byte{k1}, good, body, now, nil},
		{"second key", [][]byte{k2}, good, body, now, nil},
		{"rotation on the receiver", [][]byte{[]byte("old"), k2}, good, body, now, nil},
		{"wrong key", [][]byte{[]byte("nope")}, good, body, now, ErrNoMatch},
		{"tampered body", [][]byte{k1}, good, []byte(`{"a":2}`), now, ErrNoMatch},
		{"too old", [][]byte{k1}, good, body, now.Add(6 * time.Minute), ErrTooOld},
		{"too new", [][]byte{k1}, good, body, now.Add(-6 * time.Minute), ErrTooNew},
		{"within tolerance", [][]byte{k1}, good, body, now.Add(4 * time.Minute), nil},
		{"no headers", [][]byte{k1}, http.Header{}, body, now, ErrMissingHeaders},
		{"bad timestamp", [][]byte{k1}, func() http.Header {
			h := good.Clone()
			h.Set(HeaderTimestamp, "soon")
			return h
		}(), body, now, ErrBadTimestamp},
		{"other id", [][]byte{k1}, func() http.Header {
			h := good.Clone()
			h.Set(HeaderID, "evt_10")
			return h
		}(), body, now, ErrNoMatch},
		{"v2 entry ignored", [][]byte{k1}, func() http.Header {
			h := good.Clone()
			h.Set(HeaderSignature, strings.ReplaceAll(h.Get(HeaderSignature), "v1,", "v2,"))
			return h
		}(), body, now, ErrNoMatch},
		{"no keys", nil, good, body, now, ErrNoMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.keys, tt.h, tt.body, tt.now, 0)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	keys := [][]byte{[]byte("key-one-32-bytes-long-xxxxxxxxxx")}
	body := make([]byte, 2048)
	ts := time.Unix(1700000000, 0)
	b.ReportAllocs()
	for b.Loop() {
		Sign(keys, "evt_0123456789abcdef0123456789abcdef", ts, body)
	}
}
