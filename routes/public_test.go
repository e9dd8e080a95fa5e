package routes_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
	_ "github.com/hookgate/hookgate/gateway/redisstore"
	"github.com/hookgate/hookgate/internal/testredis"
)

func TestPublicStatusCodes(t *testing.T) {
	tests := []struct {
		name      string
		req       *http.Request
		want      int
		wantBody  string // substring of the body
		wantStore int    // events in the store afterwards
	}{
		{"valid", webhook("shop", product("CELCOM10"), shopSecret), 200, `{"stored":1,"duplicates":0}`, 1},
		{"wrong signature", webhook("shop", product("CELCOM10"), "wrong"), 401, `"error":"signature missing or invalid"`, 0},
		{"no signature", webhook("shop", product("CELCOM10"), ""), 401, `"error"`, 0},
		{"authentic but not a payload", webhook("shop", `{"type":`, shopSecret), 400, `"error":"ingest shop: `, 0},
		{"unknown source", webhook("nope", product("CELCOM10"), shopSecret), 404, `"error":"unknown source"`, 0},
		{"GET is not ingest", httptest.NewRequest(http.MethodGet, "/webhooks/shop", nil), 405, ``, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			got, body := do(t, e.public, tt.req)
			if got != tt.want {
				t.Errorf("status = %d, want %d (body %s)", got, tt.want, body)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body = %s, want it to contain %s", body, tt.wantBody)
			}
			page, err := e.store.List(context.Background(), gateway.EventFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Events) != tt.wantStore {
				t.Errorf("stored %d events, want %d", len(page.Events), tt.wantStore)
			}
		})
	}
}

func TestHead(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		path string
		want int
	}{
		{"/webhooks/shop", 200},
		{"/webhooks/nope", 404},
	}
	for _, tt := range tests {
		got, _ := do(t, e.public, httptest.NewRequest(http.MethodHead, tt.path, nil))
		if got != tt.want {
			t.Errorf("HEAD %s = %d, want %d", tt.path, got, tt.want)
		}
	}
}

func TestHealthAndReady(t *testing.T) {
	e := newEnv(t)
	for _, app := range []struct {
		name string
		do   func(path string) int
	}{
		{"public", func(p string) int { s, _ := do(t, e.public, httptest.NewRequest(http.MethodGet, p, nil)); return s }},
		{"admin", func(p string) int { s, _ := do(t, e.admin, httptest.NewRequest(http.MethodGet, p, nil)); return s }},
	} {
		if got := app.do("/healthz"); got != 200 {
			t.Errorf("%s /healthz = %d, want 200", app.name, got)
		}
		if got := app.do("/readyz"); got != 200 {
			t.Errorf("%s /readyz = %d, want 200 while the store answers", app.name, got)
		}
	}

	// The store goes away: not ready, still alive, and nothing is acked.
	e.store.Close()
	if got, _ := do(t, e.public, httptest.NewRequest(http.MethodGet, "/readyz", nil)); got != 503 {
		t.Errorf("/readyz with the store closed = %d, want 503", got)
	}
	if got, _ := do(t, e.public, httptest.NewRequest(http.MethodGet, "/healthz", nil)); got != 200 {
		t.Errorf("/healthz with the store closed = %d, want 200", got)
	}
	resp, err := e.public.Test(webhook("shop", product("CELCOM10"), shopSecret), -1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("POST with the store closed = %d, Retry-After %q; want 503 with a Retry-After, so the provider retries",
			resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// An upstream redelivery of a stored event is answered 200 and fans out
// nothing: the subscriber gets the event once.
func TestRedeliveryIsAckedOnce(t *testing.T) {
	e := newEnv(t)
	got, body := do(t, e.public, webhook("shop", product("CELCOM10"), shopSecret))
	if got != 200 || string(body) != `{"stored":1,"duplicates":0}` {
		t.Fatalf("first POST = %d %s, want 200 {\"stored\":1,\"duplicates\":0}", got, body)
	}
	e.sub.wait(t)

	got, body = do(t, e.public, webhook("shop", product("CELCOM10"), shopSecret))
	if got != 200 || string(body) != `{"stored":0,"duplicates":1}` {
		t.Fatalf("redelivered POST = %d %s, want 200 {\"stored\":0,\"duplicates\":1}", got, body)
	}

	// Stop the engine: whatever it had in hand is done. Then the subscriber
	// has exactly one request and the store holds nothing more to send.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.engine.Stop(ctx); err != nil {
		t.Fatalf("engine stop: %v", err)
	}
	if ids := e.sub.received(); len(ids) != 1 {
		t.Errorf("subscriber received %d requests (%v), want 1", len(ids), ids)
	}
	st, err := e.store.Stats(context.Background(), "indexer")
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 0 || st.Delivered != 1 {
		t.Errorf("stats = pending %d delivered %d, want 0 and 1", st.Pending, st.Delivered)
	}
}

// Over max_body, fasthttp stops reading and Fiber's error handler answers:
// app.Test reports that as an error, so this one runs on a real listener.
func TestTooLarge(t *testing.T) {
	e := newEnv(t)
	base := listen(t, e.public)
	tests := []struct {
		name string
		size int
		want int
	}{
		{"at the limit", maxBody, 400}, // authentic, not an iimmpact payload
		{"one byte over", maxBody + 1, 413},
		{"far over", 10 * maxBody, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Repeat(" ", tt.size)
			for _, chunked := range []bool{false, true} {
				req := webhook("shop", body, shopSecret)
				req.RequestURI = ""
				req.URL, _ = url.Parse(base + "/webhooks/shop")
				if chunked {
					// An unknown length makes the client send chunks.
					req.Body = io.NopCloser(strings.NewReader(body))
					req.ContentLength = -1
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("chunked %v: %v", chunked, err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Errorf("chunked %v: status = %d, want %d (body %s)", chunked, resp.StatusCode, tt.want, got)
				}
			}
		})
	}
	page, _ := e.store.List(context.Background(), gateway.EventFilter{})
	if len(page.Events) != 0 {
		t.Errorf("stored %d events, want none", len(page.Events))
	}
}

// With Redis, /readyz follows the server: 503 while it is down, 200 once
// it is back; ingest answers 503 meanwhile, never 200.
func TestReadyFollowsRedis(t *testing.T) {
	srv := testredis.Start(t)
	store, err := gateway.OpenStore(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "routes-test"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := newEnvWithStore(t, store)
	ready := func() int {
		got, _ := do(t, e.public, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return got
	}
	if got := ready(); got != 200 {
		t.Fatalf("/readyz with redis up = %d, want 200", got)
	}
	srv.Stop()
	if got := ready(); got != 503 {
		t.Errorf("/readyz with redis stopped = %d, want 503", got)
	}
	if got, body := do(t, e.public, webhook("shop", product("P1"), shopSecret)); got != 503 {
		t.Errorf("POST with redis stopped = %d, want 503 (%s)", got, body)
	}
	srv.Restart()
	// The client reconnects on its own; give it the time it needs.
	for deadline := time.Now().Add(time.Minute); ready() != 200; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("/readyz not 200 within a minute of redis restarting")
		}
	}
	if got, body := do(t, e.public, webhook("shop", product("P1"), shopSecret)); got != 200 {
		t.Errorf("POST with redis back = %d, want 200 (%s)", got, body)
	}
}

// Bodies are streamed: a request that no route takes, or that is refused
// before its body is used, must not leave bytes that spoil the next request
// on the same keep-alive connection.
func TestKeepAliveAfterRefusals(t *testing.T) {
	e := newEnv(t)
	base := listen(t, e.public)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	big := strings.Repeat("x", 12000) // past fasthttp's 8KB read-ahead, under max_body
	steps := []struct {
		req  *http.Request
		want int
	}{
		// An unknown source is not here: it is answered from the headers and
		// its connection closed (TestUnknownSourceAnsweredBeforeBody).
		{httptest.NewRequest(http.MethodPut, "/webhooks/shop", strings.NewReader(big)), 405},
		{httptest.NewRequest(http.MethodPost, "/elsewhere", strings.NewReader(big)), 404},
		{webhook("shop", big, "wrong"), 401},
		{webhook("shop", product("KA"), shopSecret), 200},
	}
	for i, st := range steps {
		st.req.RequestURI = ""
		st.req.URL, _ = url.Parse(base + st.req.URL.Path)
		if err := st.req.Write(conn); err != nil {
			t.Fatalf("step %d: write: %v", i, err)
		}
		resp, err := http.ReadResponse(br, st.req)
		if err != nil {
			t.Fatalf("step %d (%s %s): %v", i, st.req.Method, st.req.URL.Path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != st.want {
			t.Errorf("step %d (%s %s) = %d, want %d", i, st.req.Method, st.req.URL.Path, resp.StatusCode, st.want)
		}
	}
}

// A multipart/form-data body is an opaque body like any other: verified over
// its raw bytes and held to max_body. (That fasthttp does not spool a large
// one to disk before the handler runs, DisablePreParseMultipartForm, is not
// observable here without a body of hundreds of MB.)
func TestMultipartBodyIsNotPreParsed(t *testing.T) {
	e := newEnv(t)
	base := listen(t, e.public)
	form := "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n" + strings.Repeat("a", 100) + "\r\n--XyZ--\r\n"
	tests := []struct {
		name string
		body string
		want int
	}{
		{"signed, within the limit", form, 400}, // authentic, not an iimmpact payload
		{"over the limit", "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n" + strings.Repeat("a", 4*maxBody) + "\r\n--XyZ--\r\n", 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := webhook("shop", tt.body, shopSecret)
			req.Header.Set("Content-Type", "multipart/form-data; boundary=XyZ")
			req.RequestURI = ""
			req.URL, _ = url.Parse(base + "/webhooks/shop")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, tt.want, got)
			}
		})
	}
}
