package routes_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

// A subscriber's answer to a failed attempt is in the admin API: each
// history entry has response {content_type, body} (null for a delivered
// attempt), and each dead delivery the last attempt's response.
func TestAdminResponseExcerpt(t *testing.T) {
	strict := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, "signature does not verify")
	}))
	defer strict.Close()
	e := newAdminEnv(t, adminEnv{token: adminToken, subscribers: `
  strict:
    url: "` + strict.URL + `/hook"
    secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    events: ["iimmpact.product.*"]
`})
	if got, body := do(t, e.public, webhook("shop", product("CELCOM10"), shopSecret)); got != 200 {
		t.Fatalf("POST = %d %s", got, body)
	}
	e.sub.wait(t)
	id := e.sub.received()[0]

	var ev struct {
		Deliveries []struct {
			Subscriber string
			Status     string
			History    []map[string]any
		}
	}
	for deadline := time.Now().Add(time.Minute); ; {
		got, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/events/"+id, adminToken))
		if got != 200 {
			t.Fatalf("GET event = %d %s", got, body)
		}
		ev.Deliveries = nil
		decode(t, body, &ev)
		if len(ev.Deliveries) == 2 && ev.Deliveries[0].Status == "delivered" && ev.Deliveries[1].Status == "dead" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries not recorded within a minute: %s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := map[string]any{"content_type": "text/plain; charset=utf-8", "body": "signature does not verify"}
	for _, d := range ev.Deliveries {
		h := d.History[0]
		r, ok := h["response"]
		if !ok {
			t.Errorf("%s: history entry lacks response: %v", d.Subscriber, h)
		}
		switch d.Subscriber {
		case "indexer":
			if r != nil {
				t.Errorf("indexer (delivered): response = %v, want null", r)
			}
		case "strict":
			if !reflect.DeepEqual(r, want) {
				t.Errorf("strict: response = %v, want %v", r, want)
			}
			if h["error"] != "HTTP 401" || h["status_code"] != float64(401) {
				t.Errorf("strict: error %v, status_code %v; want HTTP 401, 401", h["error"], h["status_code"])
			}
		}
	}

	got, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/dead?subscriber=strict", adminToken))
	if got != 200 {
		t.Fatalf("GET dead = %d %s", got, body)
	}
	var dead []map[string]any
	decode(t, body, &dead)
	if len(dead) != 1 {
		t.Fatalf("dead = %s, want one", body)
	}
	if dead[0]["event_id"] != id || !reflect.DeepEqual(dead[0]["response"], want) {
		t.Errorf("dead = %v, want event %s with response %v", dead[0], id, want)
	}
}
