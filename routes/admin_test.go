package routes_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

func TestAdminAuth(t *testing.T) {
	e := newEnv(t)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+adminToken))
	tests := []struct {
		name      string
		method    string
		path      string
		auth      string // full Authorization header, "" for none
		dashboard bool   // send X-Hookgate-Dashboard
		want      int
		challenge string // WWW-Authenticate prefix on a 401
	}{
		{"no token", "GET", "/admin/api/subscribers", "", false, 401, "Bearer"},
		{"wrong token", "GET", "/admin/api/subscribers", "Bearer not-it", false, 401, "Bearer"},
		{"token as prefix", "GET", "/admin/api/subscribers", "Bearer " + adminToken[:5], false, 401, "Bearer"},
		{"token plus more", "GET", "/admin/api/subscribers", "Bearer " + adminToken + "x", false, 401, "Bearer"},
		{"right token", "GET", "/admin/api/subscribers", "Bearer " + adminToken, false, 200, ""},
		{"scheme any case", "GET", "/admin/api/subscribers", "bearer " + adminToken, false, 200, ""},
		{"POST with bearer", "POST", "/admin/api/subscribers/indexer/pause", "Bearer " + adminToken, false, 200, ""},
		{"unknown admin path still guarded", "GET", "/admin/nothing-here", "", false, 401, "Basic"},
		{"Basic with the token as password", "GET", "/admin/api/subscribers", basic, false, 200, ""},
		{"Basic, not base64", "GET", "/admin/api/subscribers", "Basic " + adminToken, false, 401, "Bearer"},
		{"Basic POST without the dashboard header", "POST", "/admin/api/subscribers/indexer/resume", basic, false, 403, ""},
		{"Basic POST from the dashboard", "POST", "/admin/api/subscribers/indexer/resume", basic, true, 200, ""},
		{"dashboard needs the token", "GET", "/admin/", "", false, 401, "Basic"},
		{"dashboard with Basic", "GET", "/admin/", basic, false, 200, ""},
		{"health needs none", "GET", "/healthz", "", false, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := adminReq(tt.method, tt.path, "")
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.dashboard {
				req.Header.Set("X-Hookgate-Dashboard", "1")
			}
			resp, err := e.admin.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, tt.challenge) || (tt.challenge == "") != (got == "") {
				t.Errorf("WWW-Authenticate = %q, want prefix %q", got, tt.challenge)
			}
		})
	}
}

func TestDashboard(t *testing.T) {
	e := newEnv(t)
	resp, err := e.admin.Test(adminReq(http.MethodGet, "/admin/", adminToken), -1)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /admin/ = %d %s, want 200 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"<title>hookgate</title>", "/admin/api", "X-Hookgate-Dashboard"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("dashboard has no Content-Security-Policy")
	}
}

func TestAdminEventShape(t *testing.T) {
	e := newEnv(t)
	if got, body := do(t, e.public, webhook("shop", product("CELCOM10"), shopSecret)); got != 200 {
		t.Fatalf("POST = %d %s", got, body)
	}
	e.sub.wait(t)
	ids := e.sub.received()

	// Wait until the engine has recorded the attempt (it answers the
	// subscriber's response first, then records).
	var ev map[string]any
	for deadline := time.Now().Add(time.Minute); ; {
		got, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/events/"+ids[0], adminToken))
		if got != 200 {
			t.Fatalf("GET event = %d %s", got, body)
		}
		ev = nil
		decode(t, body, &ev)
		ds := ev["deliveries"].([]any)
		if len(ds) == 1 && ds[0].(map[string]any)["status"] == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery not recorded within a minute: %s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if got, want := keys(ev), []string{"deliveries", "duplicates", "event", "received_at"}; !slices.Equal(got, want) {
		t.Errorf("event keys = %v, want %v", got, want)
	}
	envl := ev["event"].(map[string]any)
	for k, want := range map[string]any{
		"specversion": "1.0", "id": ids[0], "source": "shop",
		"type": "iimmpact.product.updated", "subject": "product/CELCOM10",
		"time": "2024-01-15T10:30:00Z", "datacontenttype": "application/json",
	} {
		if envl[k] != want {
			t.Errorf("event.%s = %v, want %v", k, envl[k], want)
		}
	}
	if _, err := time.Parse(time.RFC3339, ev["received_at"].(string)); err != nil {
		t.Errorf("received_at %v is not RFC 3339: %v", ev["received_at"], err)
	}
	d := ev["deliveries"].([]any)[0].(map[string]any)
	for _, k := range []string{"subscriber", "status", "attempts", "next_attempt_at", "last_status_code", "last_error", "history"} {
		if _, ok := d[k]; !ok {
			t.Errorf("delivery lacks %q: %v", k, d)
		}
	}
	if d["subscriber"] != "indexer" || d["attempts"] != float64(1) || d["last_status_code"] != float64(200) {
		t.Errorf("delivery = %v, want indexer, 1 attempt, last status 200", d)
	}
	h := d["history"].([]any)[0].(map[string]any)
	for _, k := range []string{"attempt", "at", "duration_ms", "status_code"} {
		if _, ok := h[k]; !ok {
			t.Errorf("history entry lacks %q: %v", k, h)
		}
	}

	if got, _ := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/events/evt_nope", adminToken)); got != 404 {
		t.Errorf("GET unknown event = %d, want 404", got)
	}
}

func TestAdminSubscribersAndPause(t *testing.T) {
	e := newEnv(t)
	type row struct {
		Name          string     `json:"name"`
		URL           string     `json:"url"`
		Breaker       string     `json:"breaker"`
		Paused        bool       `json:"paused"`
		Pending       int64      `json:"pending"`
		Dead          int64      `json:"dead"`
		Delivered     int64      `json:"delivered"`
		LastSuccessAt *time.Time `json:"last_success_at"`
		LastError     string     `json:"last_error"`
	}
	list := func() []row {
		t.Helper()
		got, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/subscribers", adminToken))
		if got != 200 {
			t.Fatalf("GET subscribers = %d %s", got, body)
		}
		var rows []row
		decode(t, body, &rows)
		return rows
	}
	rows := list()
	if len(rows) != 1 || rows[0].Name != "indexer" || rows[0].URL != e.sub.srv.URL+"/hook" ||
		rows[0].Breaker != "closed" || rows[0].Paused || rows[0].LastSuccessAt != nil {
		t.Errorf("subscribers = %+v, want indexer, its url, closed, not paused, never succeeded", rows)
	}

	tests := []struct {
		path       string
		want       int
		wantPaused bool
	}{
		{"/admin/api/subscribers/indexer/pause", 200, true},
		{"/admin/api/subscribers/indexer/resume", 200, false},
		{"/admin/api/subscribers/nobody/pause", 404, false},
	}
	for _, tt := range tests {
		if got, body := do(t, e.admin, adminReq(http.MethodPost, tt.path, adminToken)); got != tt.want {
			t.Errorf("POST %s = %d, want %d (%s)", tt.path, got, tt.want, body)
		}
		if got := list()[0].Paused; got != tt.wantPaused {
			t.Errorf("after %s paused = %v, want %v", tt.path, got, tt.wantPaused)
		}
	}
}

func TestAdminListRedeliverStatus(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"A", "B"} {
		if got, body := do(t, e.public, webhook("shop", product(id), shopSecret)); got != 200 {
			t.Fatalf("POST = %d %s", got, body)
		}
		e.sub.wait(t)
	}
	got, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/events?source=shop&limit=1", adminToken))
	if got != 200 {
		t.Fatalf("GET events = %d %s", got, body)
	}
	var page gateway.EventPage
	decode(t, body, &page)
	if len(page.Events) != 1 || page.Events[0].Subject != "product/B" || page.NextCursor == "" {
		t.Errorf("page = %+v, want the newest (product/B) and a cursor", page)
	}
	// Each row carries its deliveries' own statuses beside the roll-up.
	var raw struct {
		Events []map[string]json.RawMessage `json:"events"`
	}
	decode(t, body, &raw)
	if len(raw.Events) == 1 && len(page.Events) == 1 {
		st := page.Events[0].Deliveries["indexer"]
		if got := string(raw.Events[0]["deliveries"]); st == "" || got != `{"indexer":"`+string(st)+`"}` {
			t.Errorf("events[0].deliveries = %s, want {\"indexer\": its status}", got)
		}
	}
	if got, _ := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/events?status=bogus", adminToken)); got != 400 {
		t.Errorf("GET events?status=bogus = %d, want 400", got)
	}
	got, body = do(t, e.admin, adminReq(http.MethodGet, "/admin/api/events?subject=product/A", adminToken))
	var bySubject gateway.EventPage
	decode(t, body, &bySubject)
	if got != 200 || len(bySubject.Events) != 1 || bySubject.Events[0].Subject != "product/A" {
		t.Errorf("GET events?subject=product/A = %d %+v, want product/A alone", got, bySubject.Events)
	}

	// The subscriber has the request, but its attempt may not be recorded
	// yet: until it is, the delivery is in flight and redeliver is a 409.
	waitRecorded(t, e, page.Events[0].ID)
	got, body = do(t, e.admin, adminReq(http.MethodPost, "/admin/api/events/"+page.Events[0].ID+"/redeliver", adminToken))
	if got != 202 || string(body) != `{"queued":1}` {
		t.Errorf("redeliver = %d %s, want 202 {\"queued\":1}", got, body)
	}
	e.sub.wait(t)
	if ids := e.sub.received(); len(ids) != 3 || ids[2] != page.Events[0].ID {
		t.Errorf("subscriber got %v, want the redelivered %s last", ids, page.Events[0].ID)
	}
	if got, _ := do(t, e.admin, adminReq(http.MethodPost, "/admin/api/events/evt_nope/redeliver", adminToken)); got != 404 {
		t.Errorf("redeliver unknown = %d, want 404", got)
	}

	got, body = do(t, e.admin, adminReq(http.MethodGet, "/admin/api/dead?subscriber=indexer", adminToken))
	if got != 200 || string(body) != `[]` {
		t.Errorf("dead = %d %s, want 200 []", got, body)
	}
	got, body = do(t, e.admin, adminReq(http.MethodGet, "/admin/api/status", adminToken))
	if got != 200 {
		t.Fatalf("status = %d %s", got, body)
	}
	var st map[string]any
	decode(t, body, &st)
	if st["version"] != "test" || st["store"].(map[string]any)["ok"] != true {
		t.Errorf("status = %s, want version test and store ok", body)
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	do(t, e.public, webhook("shop", product("A"), shopSecret))
	do(t, e.public, webhook("shop", product("A"), shopSecret))
	do(t, e.public, webhook("shop", product("A"), "wrong"))
	do(t, e.public, webhook("nope", product("A"), shopSecret))

	e.sub.wait(t) // the one stored event is delivered: one attempt counted
	waitForAttempts(t, e, "indexer", 1)

	// /metrics takes the admin token, as /admin does: the families name
	// sources, subscribers, traffic and the version.
	for _, req := range []*http.Request{adminReq(http.MethodGet, "/metrics", ""), adminReq(http.MethodGet, "/metrics", "wrong-token-wrong-token")} {
		if got, body := do(t, e.admin, req); got != 401 || strings.Contains(string(body), "hookgate_") {
			t.Errorf("GET /metrics with %q = %d %.100s, want 401 and no metrics", req.Header.Get("Authorization"), got, body)
		}
	}
	basic := adminReq(http.MethodGet, "/metrics", "")
	basic.SetBasicAuth("prometheus", adminToken)
	if got, body := do(t, e.admin, basic); got != 200 {
		t.Errorf("GET /metrics with the token as a Basic password = %d %.100s, want 200", got, body)
	}
	got, body := do(t, e.admin, adminReq(http.MethodGet, "/metrics", adminToken))
	if got != 200 {
		t.Fatalf("GET /metrics = %d %s", got, body)
	}
	for _, want := range []string{
		`hookgate_build_info{version="test"} 1`,
		`hookgate_ingest_requests_total{code="200",source="shop"} 2`,
		`hookgate_ingest_requests_total{code="401",source="shop"} 1`,
		`hookgate_ingest_requests_total{code="404",source="_unknown"} 1`,
		`hookgate_ingest_events_total{result="stored",source="shop",type="iimmpact.product.updated"} 1`,
		`hookgate_ingest_events_total{result="duplicate",source="shop",type="iimmpact.product.updated"} 1`,
		`hookgate_store_up 1`,
		`hookgate_subscriber_breaker_state{state="closed",subscriber="indexer"} 1`,
		`hookgate_subscriber_paused{subscriber="indexer"} 0`,
		`hookgate_delivery_attempts_total{outcome="delivered",subscriber="indexer"} 1`,
		`hookgate_delivery_attempts_total{outcome="retrying",subscriber="indexer"} 0`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	// In flight: 0 or 1, depending on whether the send has returned yet.
	if !strings.Contains(string(body), `hookgate_subscriber_in_flight{subscriber="indexer"} `) {
		t.Errorf("metrics lack hookgate_subscriber_in_flight:\n%s", body)
	}
}

// waitForAttempts waits (a generous minute, no timing asserted) until the
// engine has counted n attempts to sub: Record runs after the subscriber
// answered.
func waitForAttempts(t *testing.T, e *env, sub string, n int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if c := e.engine.Attempts(sub); c.Delivered+c.Retrying+c.Dead >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: fewer than %d attempts counted within a minute", sub, n)
}

func TestBadCursorIs400(t *testing.T) {
	e := newEnv(t)
	status, body := do(t, e.admin, adminReq(http.MethodGet, "/admin/api/events?cursor=garbage", adminToken))
	if status != http.StatusBadRequest {
		t.Errorf("GET /admin/api/events?cursor=garbage = %d %s, want 400", status, body)
	}
}

// waitRecorded waits (a generous minute, no timing asserted) until every
// delivery of the event has ended: its attempt is recorded.
func waitRecorded(t *testing.T, e *env, id string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		rec, err := e.store.Event(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		done := true
		for _, d := range rec.Deliveries {
			done = done && (d.Status == gateway.StatusDelivered || d.Status == gateway.StatusDead)
		}
		if done {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: deliveries not recorded within a minute", id)
}
