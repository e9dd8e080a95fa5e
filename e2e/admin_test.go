package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// The admin API's documents (SPEC 6), as far as the tests read them.
type (
	subscriberInfo struct {
		Name         string `json:"name"`
		URL          string `json:"url"`
		Breaker      string `json:"breaker"`
		Paused       bool   `json:"paused"`
		PausedReason string `json:"paused_reason"`
		Pending      int64  `json:"pending"`
		Dead         int64  `json:"dead"`
		Delivered    int64  `json:"delivered"`
		LastError    string `json:"last_error"`
		// BreakerNextProbeAt: only while the breaker is open (docs/admin.md).
		BreakerNextProbeAt *time.Time `json:"breaker_next_probe_at"`
	}
	eventSummary struct {
		ID         string    `json:"id"`
		Source     string    `json:"source"`
		Type       string    `json:"type"`
		Subject    string    `json:"subject"`
		ReceivedAt time.Time `json:"received_at"`
		Status     string    `json:"status"`
		// Deliveries: each subscriber's own status (docs/admin.md).
		Deliveries map[string]string `json:"deliveries"`
	}
	eventPage struct {
		Events     []eventSummary `json:"events"`
		NextCursor string         `json:"next_cursor"`
	}
	attempt struct {
		Attempt    int       `json:"attempt"`
		At         time.Time `json:"at"`
		DurationMS float64   `json:"duration_ms"`
		StatusCode int       `json:"status_code"`
		Error      string    `json:"error"`
	}
	delivery struct {
		Subscriber     string    `json:"subscriber"`
		Status         string    `json:"status"`
		Attempts       int       `json:"attempts"`
		LastStatusCode int       `json:"last_status_code"`
		LastError      string    `json:"last_error"`
		DeadReason     string    `json:"dead_reason"`
		History        []attempt `json:"history"`
	}
	eventDetail struct {
		Event      envelope   `json:"event"`
		ReceivedAt time.Time  `json:"received_at"`
		Duplicates int        `json:"duplicates"`
		Deliveries []delivery `json:"deliveries"`
	}
)

// admin is the admin API's client.
var admin = &http.Client{Timeout: 10 * time.Second}

// adminDo sends an admin request with the bearer token and decodes a JSON
// answer into v (when v is not nil). It returns the status code.
func (g *gateway) adminDo(method, path string, v any) (int, error) {
	req, err := http.NewRequest(method, "http://"+g.admin+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := admin.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if v != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, v); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s %s: %w: %.300s", method, path, err, b)
		}
	}
	return resp.StatusCode, nil
}

// adminGet GETs path into v and fails unless the answer is a 200.
func (g *gateway) adminGet(t testing.TB, path string, v any) {
	t.Helper()
	code, err := g.adminDo(http.MethodGet, path, v)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: got %d (%v), want 200", path, code, err)
	}
}

// event is GET /admin/api/events/{id}.
func (g *gateway) event(t testing.TB, id string) eventDetail {
	t.Helper()
	var d eventDetail
	g.adminGet(t, "/admin/api/events/"+url.PathEscape(id), &d)
	return d
}

// subscribers is GET /admin/api/subscribers, by name.
func (g *gateway) subscribers(t testing.TB) map[string]subscriberInfo {
	t.Helper()
	var list []subscriberInfo
	g.adminGet(t, "/admin/api/subscribers", &list)
	m := make(map[string]subscriberInfo, len(list))
	for _, s := range list {
		m[s.Name] = s
	}
	return m
}

// deliveryTo is the delivery of d to the named subscriber.
func (d eventDetail) deliveryTo(name string) (delivery, bool) {
	for _, dl := range d.Deliveries {
		if dl.Subscriber == name {
			return dl, true
		}
	}
	return delivery{}, false
}

// waitDelivery polls the event until its delivery to sub has the status
// want, and returns it.
func (g *gateway) waitDelivery(t testing.TB, id, sub, want string) delivery {
	t.Helper()
	var got delivery
	waitFor(t, 30*time.Second, fmt.Sprintf("delivery of %s to %s is %s", id, sub, want), func() (bool, string) {
		var ok bool
		got, ok = g.event(t, id).deliveryTo(sub)
		if !ok {
			return false, "no such delivery"
		}
		return got.Status == want, fmt.Sprintf("status %q after %d attempts (last %d %q)", got.Status, got.Attempts, got.LastStatusCode, got.LastError)
	})
	return got
}

// codes is the status code of each attempt in h.
func codes(h []attempt) []int {
	c := make([]int, len(h))
	for i, a := range h {
		c[i] = a.StatusCode
	}
	return c
}
