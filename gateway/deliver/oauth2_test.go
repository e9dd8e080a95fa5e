package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Attempts that find no valid token wait for one fetch together.
func TestTokenSourceOneFetch(t *testing.T) {
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := fetches.Add(1)
		time.Sleep(20 * time.Millisecond) // long enough for the others to queue
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"token-number-%d","token_type":"Bearer","expires_in":3600}`, n)
	}))
	defer srv.Close()
	ts := newTokenSource(&gateway.OAuth2Config{TokenURL: srv.URL, ClientID: "id", ClientSecret: "secret"}, nil)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			tok, err := ts.token(context.Background())
			if err != nil || tok.AccessToken != "token-number-1" {
				t.Errorf("token = %v, %v; want token-number-1", tok, err)
			}
		})
	}
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Errorf("fetches = %d, want 1", n)
	}
	// Invalidating a token another attempt already replaced keeps the
	// new one.
	old, _ := ts.token(context.Background())
	ts.invalidate(old)
	fresh, _ := ts.token(context.Background())
	ts.invalidate(old)
	if again, _ := ts.token(context.Background()); again != fresh || fetches.Load() != 2 {
		t.Errorf("after a stale invalidate: %q (fetches %d), want %q (2)", again.AccessToken, fetches.Load(), fresh.AccessToken)
	}
}

// A failed fetch is recorded by the endpoint's host and what went wrong,
// never the answer's text.
func TestTokenErrorReason(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"refused with a code", 401, `{"error":"invalid_client","error_description":"secret TOPSECRET wrong"}`, "HTTP 401 (invalid_client)"},
		{"odd code not shown", 400, `{"error":"TOPSECRET <script>"}`, "HTTP 400"},
		{"server error, text", 503, `TOPSECRET down`, "HTTP 503"},
		{"no access_token", 200, `{"token_type":"Bearer","note":"TOPSECRET"}`, "invalid token response"},
		{"not JSON", 200, `TOPSECRET`, "invalid token response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if tt.body[0] == '{' {
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			ts := newTokenSource(&gateway.OAuth2Config{TokenURL: srv.URL + "/token?x=TOPSECRET", ClientID: "id", ClientSecret: "TOPSECRET"}, nil)
			_, err := ts.token(context.Background())
			var te *tokenError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want a tokenError", err)
			}
			want := "token endpoint " + srv.Listener.Addr().String() + ": " + tt.want
			if got := Reason(0, fmt.Errorf("wrapped: %w", err), time.Second); got != want {
				t.Errorf("Reason = %q, want %q", got, want)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		ts := newTokenSource(&gateway.OAuth2Config{TokenURL: url, ClientID: "id", ClientSecret: "TOPSECRET"}, nil)
		_, err := ts.token(context.Background())
		if got, want := Reason(0, err, time.Second), "token endpoint "+url[len("http://"):]+": connect: connection refused"; got != want {
			t.Errorf("Reason = %q, want %q", got, want)
		}
	})
}
