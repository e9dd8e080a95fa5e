package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// responseExcerpt is an attempt's response in the admin API.
type responseExcerpt struct {
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
}

// Why a delivery failed, in the subscriber's words: its answer to a
// failed attempt is in the event's history and in the dead list, at most
// 1 KB of it, as text, with a secret of ours it echoed redacted.
func TestResponseExcerpt(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		const token = "Bearer e2e-api-key-0123456789"
		strict := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "signature does not verify (auth "+r.Header.Get("Authorization")+")\n\xff"+strings.Repeat("x", 3000))
		}))
		t.Cleanup(strict.Close)
		w := newWorld(t, b)
		w.subscribers["strict"] = map[string]any{"url": strict.URL + "/hook", "secret": newSecret(t),
			"headers": map[string]string{"Authorization": token}, "retry": fastRetry}
		g := w.start()
		g.mustAccept(product("CELCOM10", 1))
		id := g.eventID(t, "iimmpact.product.updated", "product/CELCOM10")
		g.waitDelivery(t, id, "strict", "dead")

		var ev struct {
			Deliveries []struct {
				Subscriber string
				History    []struct {
					StatusCode int              `json:"status_code"`
					Error      string           `json:"error"`
					Response   *responseExcerpt `json:"response"`
				}
			}
		}
		g.adminGet(t, "/admin/api/events/"+id, &ev)
		if len(ev.Deliveries) != 1 || len(ev.Deliveries[0].History) != 1 {
			t.Fatalf("event: %+v, want one delivery with one attempt", ev)
		}
		a := ev.Deliveries[0].History[0]
		check := func(where string, r *responseExcerpt) {
			t.Helper()
			if r == nil {
				t.Fatalf("%s: no response", where)
			}
			const want = "signature does not verify (auth [redacted])\n\uFFFDxxx"
			if r.ContentType != "text/plain; charset=utf-8" || !strings.HasPrefix(r.Body, want) {
				t.Errorf("%s: response %q %.60q..., want text/plain; charset=utf-8, %q...", where, r.ContentType, r.Body, want)
			}
			if len(r.Body) != 1024 || !utf8.ValidString(r.Body) || strings.Contains(r.Body, "e2e-api-key") {
				t.Errorf("%s: body of %d bytes (valid UTF-8 %v), want 1024, valid, no secret", where, len(r.Body), utf8.ValidString(r.Body))
			}
		}
		if a.StatusCode != 401 || a.Error != "HTTP 401" {
			t.Errorf("attempt: %d %q, want 401 HTTP 401", a.StatusCode, a.Error)
		}
		check("event history", a.Response)

		var dead []struct {
			EventID  string           `json:"event_id"`
			Response *responseExcerpt `json:"response"`
		}
		g.adminGet(t, "/admin/api/dead?subscriber=strict", &dead)
		if len(dead) != 1 || dead[0].EventID != id {
			t.Fatalf("dead: %+v, want event %s", dead, id)
		}
		check("dead", dead[0].Response)
	})
}
