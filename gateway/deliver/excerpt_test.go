package deliver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hookgate/hookgate/gateway"
)

// A subscriber's answer to a failed attempt is recorded as an excerpt: at
// most 1 KB of text, invalid UTF-8 replaced, never a secret of ours it
// echoed, with its Content-Type; a delivered attempt records none.
func TestResponseExcerptRecorded(t *testing.T) {
	const apiKey = "Bearer sk_live_0123456789"
	long := strings.Repeat("ab", 1000) // 2000 bytes
	tests := []struct {
		name   string
		code   int
		ctype  string
		body   string
		want   *gateway.AttemptResponse
		status gateway.DeliveryStatus
	}{
		{"401 with a reason", 401, "text/plain; charset=utf-8", "signature does not verify",
			&gateway.AttemptResponse{ContentType: "text/plain; charset=utf-8", Body: "signature does not verify"}, gateway.StatusDead},
		{"truncated at 1 KB", 400, "text/plain", long,
			&gateway.AttemptResponse{ContentType: "text/plain", Body: long[:gateway.MaxResponseExcerpt]}, gateway.StatusDead},
		{"invalid UTF-8 replaced", 422, "application/octet-stream", "bad \xff\xfe byte",
			&gateway.AttemptResponse{ContentType: "application/octet-stream", Body: "bad \uFFFD\uFFFD byte"}, gateway.StatusDead},
		{"an echoed secret redacted", 403, "application/json", `{"got":"` + apiKey + `","token":"tok_987654321"}`,
			&gateway.AttemptResponse{ContentType: "application/json", Body: `{"got":"[redacted]","token":"[redacted]"}`}, gateway.StatusDead},
		{"empty", 404, "", "", &gateway.AttemptResponse{}, gateway.StatusDead},
		{"delivered: none", 200, "text/plain", "thanks", nil, gateway.StatusDelivered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if tc.ctype != "" {
					w.Header().Set("Content-Type", tc.ctype)
				} else {
					w.Header()["Content-Type"] = nil // no sniffing
				}
				w.WriteHeader(tc.code)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			s := openBolt(t)
			sub := testSub("sub", srv.URL+"/hook?token=tok_987654321")
			sub.Headers = map[string]string{"Authorization": apiKey, "X-Team": "search"}
			startEngine(t, s, map[string]*gateway.SubscriberConfig{"sub": sub}, testOptions(t))
			id := putEvents(t, s, 1, time.Now(), "sub")[0]
			waitFor(t, "the attempt recorded", statusIs(t, s, "sub", tc.status, id))

			hist := delivery(t, s, id, "sub").History
			if len(hist) != 1 {
				t.Fatalf("%d attempts, want 1", len(hist))
			}
			got := hist[0].Response
			switch {
			case (got == nil) != (tc.want == nil):
				t.Fatalf("Response = %+v, want %+v", got, tc.want)
			case got != nil && *got != *tc.want:
				t.Errorf("Response = %+v, want %+v", *got, *tc.want)
			}
		})
	}
}

// The excerpt stays within its bound whatever the body: a secret cut off
// at the end of what is read is not shown in part, a character is never
// cut in two, and replacements do not push it past 1 KB.
func TestExcerptBounds(t *testing.T) {
	secret := []byte("sk_live_0123456789abcdef")
	max := gateway.MaxResponseExcerpt
	tests := []struct {
		name string
		body string
		want string
	}{
		{"secret across the bound", strings.Repeat("a", max-4) + string(secret), strings.Repeat("a", max-4)},
		{"secret just within", strings.Repeat("a", max-10) + string(secret) + "zzz", strings.Repeat("a", max-10) + "[redacted]"},
		{"character across the bound", strings.Repeat("a", max-1) + "é", strings.Repeat("a", max-1)},
		{"all invalid", strings.Repeat("\xff", 2*max), strings.Repeat("\uFFFD", max/3)},
		{"secret cut by the end of the read", strings.Repeat(string(secret)+"-", 100), strings.Repeat("[redacted]-", (max+len(secret))/(len(secret)+1))},
	}
	if got := readExcerpt(strings.NewReader(""), "text/plain; x="+string(secret), [][]byte{secret}).ContentType; got != "text/plain; x=[redacted]" {
		t.Errorf("content type with a secret: got %q, want it redacted", got)
	}
	for _, tc := range tests {
		got := readExcerpt(strings.NewReader(tc.body), "text/plain", [][]byte{secret}).Body
		if got != tc.want {
			t.Errorf("%s: got %d bytes %.40q..., want %d bytes %.40q...", tc.name, len(got), got, len(tc.want), tc.want)
		}
		if len(got) > max || !utf8.ValidString(got) || strings.Contains(got, "sk_live") {
			t.Errorf("%s: %d bytes, valid UTF-8 %v: out of bounds", tc.name, len(got), utf8.ValidString(got))
		}
	}
}
