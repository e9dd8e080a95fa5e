package deliver

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestReasonStatus(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{200, ""},
		{204, ""},
		{400, "HTTP 400"},
		{503, "HTTP 503"},
		{302, "HTTP 302 (redirect not followed)"},
	}
	for _, tt := range tests {
		if got := Reason(tt.status, nil, time.Second); got != tt.want {
			t.Errorf("Reason(%d) = %q, want %q", tt.status, got, tt.want)
		}
	}
}

// TestReasonRealErrors provokes real transport errors against a URL that
// carries credentials, which must not reach the recorded reason.
func TestReasonRealErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-block
	}))
	defer slow.Close()
	defer close(block)

	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
	}))
	defer hangup.Close()

	withCreds := func(base string) string {
		return strings.Replace(base, "http://", "http://user:hunter2@", 1) + "/hook?token=topsecret"
	}
	tests := []struct {
		name    string
		url     string
		timeout time.Duration
		want    string
	}{
		{"refused", withCreds("http://" + closedAddr), time.Second, "connect: connection refused"},
		{"timeout", withCreds(slow.URL), 50 * time.Millisecond, "timeout after 50ms"},
		{"hang up", withCreds(hangup.URL), time.Second, "connection closed before a response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tt.url, strings.NewReader("{}"))
			tr := &http.Transport{DisableKeepAlives: true}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatal("request succeeded, want an error")
			}
			got := Reason(0, err, tt.timeout)
			if got != tt.want {
				t.Errorf("Reason = %q, want %q (from %v)", got, tt.want, err)
			}
			for _, secret := range []string{"hunter2", "topsecret"} {
				if strings.Contains(got, secret) {
					t.Errorf("Reason %q leaks %q", got, secret)
				}
			}
		})
	}
}

func TestReasonClipped(t *testing.T) {
	got := Reason(0, errString(strings.Repeat("x", 500)), time.Second)
	if len(got) != maxReason || !strings.HasSuffix(got, "...") {
		t.Errorf("len(Reason) = %d (%q...), want %d ending in ...", len(got), got[:10], maxReason)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
