package deliver

import (
	"net/http"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary headers and bodies to Verify, which reads
// untrusted requests in `hookgate consume`: it must not panic, must reject
// anything not signed with the key, and must accept what Sign produced.
func FuzzVerify(f *testing.F) {
	key := []byte("fuzz-key")
	now := time.Unix(1700000000, 0)
	f.Add("evt_1", "1700000000", Sign([][]byte{key}, "evt_1", now, []byte("{}")), []byte("{}"))
	f.Add("evt_1", "1700000000", "v1,AAAA v1, v2,xyz ,,", []byte(""))
	f.Add("", "-1", "v1", []byte("x"))
	f.Add("id", "99999999999999999999", "v1,====", []byte("x"))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		if Verify([][]byte{key}, h, body, now, 0) == nil {
			// Accepted: then it was the key that made it valid.
			if Verify([][]byte{[]byte("other-key")}, h, body, now, 0) == nil {
				t.Fatalf("headers %v verify under two unrelated keys", h)
			}
		}
		good := http.Header{}
		good.Set(HeaderID, "evt_x")
		good.Set(HeaderTimestamp, "1700000000")
		good.Set(HeaderSignature, Sign([][]byte{key}, "evt_x", now, body))
		if err := Verify([][]byte{key}, good, body, now, 0); err != nil {
			t.Fatalf("Verify rejected Sign's output: %v", err)
		}
	})
}

// FuzzParseRetryAfter: subscriber-controlled, so never a panic and never
// a negative wait.
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{"120", "0", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999", " 7 ", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := ParseRetryAfter(v, now); d < 0 || (!ok && d != 0) {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}
