package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookgate/hookgate/internal/loadgen"
	"github.com/hookgate/hookgate/internal/testredis"
)

// relayRedis is a client of a fresh redis-server of the test's own.
func relayRedis(t *testing.T) *redis.Client {
	t.Helper()
	srv := testredis.Start(t)
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestRelayHandlerAppendsOnceForEachAuthenticRequest(t *testing.T) {
	rdb := relayRedis(t)
	secret := []byte("s3cret")
	app := fiber.New()
	app.Post("/webhooks/iimmpact", relayHandler(rdb, secret))

	body := []byte(`{"type":"product.updated","id":"A"}`)
	tests := []struct {
		name, sig string
		want      int
	}{
		{"authentic", loadgen.SignIimmpact(body, secret), 200},
		{"forged", loadgen.SignIimmpact(body, []byte("guess")), 401},
		{"unsigned", "", 401},
		{"authentic again", loadgen.SignIimmpact(body, secret), 200},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("POST", "/webhooks/iimmpact", bytes.NewReader(body))
		if tt.sig != "" {
			req.Header.Set(loadgen.IimmpactHeader, tt.sig)
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
	entries, err := rdb.XRange(context.Background(), relayStream, "-", "+").Result()
	if err != nil || len(entries) != 2 {
		t.Fatalf("XRANGE = %v (%v), want 2 entries for the 2 authentic requests", entries, err)
	}
	for _, e := range entries {
		if len(e.Values) != 1 || e.Values["body"] != string(body) {
			t.Errorf("entry %v, want the body alone", e.Values)
		}
	}
}

// subscriberLog is an httptest subscriber that checks every delivery's
// Standard Webhooks signature with the official library and answers
// status.
type subscriberLog struct {
	mu     sync.Mutex
	bodies map[string][]string // webhook-id -> bodies received
	bad    int
}

func startSubscriber(t *testing.T, key []byte, status int) (*subscriberLog, *httptest.Server) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		t.Fatal(err)
	}
	log := &subscriberLog{bodies: map[string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		log.mu.Lock()
		defer log.mu.Unlock()
		if err := wh.Verify(body, r.Header); err != nil {
			log.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		id := r.Header.Get("webhook-id")
		log.bodies[id] = append(log.bodies[id], string(body))
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return log, srv
}

func (s *subscriberLog) badlySigned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bad
}

func (s *subscriberLog) received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, bs := range s.bodies {
		n += len(bs)
	}
	return n
}

// The delivery loop POSTs every entry of its group once, signed, with the
// entry id as webhook-id; it XACKs those answered 2xx and leaves the rest
// pending, never retried.
func TestRelayLoopDeliversAndAcks(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		wantPending int64
	}{
		{"2xx: acked", http.StatusNoContent, 0},
		{"5xx: left pending", http.StatusInternalServerError, 150},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			rdb := relayRedis(t)
			key := []byte("0123456789abcdef0123456789abcdef")
			log, sub := startSubscriber(t, key, tt.status)
			if err := rdb.XGroupCreateMkStream(ctx, relayStream, relayGroup(1), "0").Err(); err != nil {
				t.Fatal(err)
			}
			// More than one read's worth, so that batches follow batches.
			const n = 150
			want := map[string]string{}
			for i := range n {
				body := fmt.Sprintf(`{"data":{"bench_seq":%d}}`, i)
				id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: relayStream, Values: []any{"body", body}}).Result()
				if err != nil {
					t.Fatal(err)
				}
				want[id] = body
			}

			lctx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			l := relayLoop{rdb: rdb, client: sub.Client(), group: relayGroup(1), target: relayTarget{URL: sub.URL, Key: key}, now: time.Now}
			go func() {
				defer close(done)
				l.run(lctx)
			}()
			deadline := time.Now().Add(10 * time.Second)
			for log.received() < n && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			// Long enough for a retry, were there one, and for the acks.
			time.Sleep(3 * relayBlock)
			stop()
			<-done

			if bad := log.badlySigned(); bad != 0 {
				t.Errorf("%d deliveries had a bad signature", bad)
			}
			if got := log.received(); got != n {
				t.Errorf("received %d deliveries, want %d, each once", got, n)
			}
			log.mu.Lock()
			defer log.mu.Unlock()
			for id, body := range want {
				if got := log.bodies[id]; len(got) != 1 || got[0] != body {
					t.Errorf("entry %s: received %q, want its body once", id, got)
				}
			}
			p, err := rdb.XPending(ctx, relayStream, relayGroup(1)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if p.Count != tt.wantPending {
				t.Errorf("pending %d, want %d", p.Count, tt.wantPending)
			}
		})
	}
}

func TestRelayTargetsRoundTrip(t *testing.T) {
	subs := []subscriber{{URL: "http://127.0.0.1:1/hook", Secret: randomWhsec()}, {URL: "http://127.0.0.1:2/hook", Secret: randomWhsec()}}
	got, err := parseRelayTargets(formatRelayTargets(subs))
	if err != nil || len(got) != 2 || got[1].URL != subs[1].URL {
		t.Fatalf("parseRelayTargets = %+v, %v; want both subscribers", got, err)
	}
	key, _ := loadgen.DecodeWhsec(subs[0].Secret)
	if !bytes.Equal(got[0].Key, key) {
		t.Error("first key differs from its secret's")
	}
	if ts, err := parseRelayTargets(""); err != nil || len(ts) != 0 {
		t.Errorf("no subscribers: %v, %v; want none and no error", ts, err)
	}
	for _, bad := range []string{"http://x/hook", "http://x/hook secret", "http://x/hook whsec_!!"} {
		if _, err := parseRelayTargets(bad); err == nil {
			t.Errorf("parseRelayTargets(%q): no error", bad)
		}
	}
}

// A held relay takes requests but delivers nothing before POST /start, and
// then the backlog too; it returns cleanly when its context ends.
func TestServeRelayHoldsUntilStart(t *testing.T) {
	srv := testredis.Start(t)
	key := []byte("0123456789abcdef0123456789abcdef")
	log, sub := startSubscriber(t, key, http.StatusOK)
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	secret := "s3cret"
	subs := formatRelayTargets([]subscriber{{URL: sub.URL, Secret: "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveRelay(ctx, addr, srv.URL(), secret, subs, true) }()
	t.Cleanup(func() { stop(); <-done })

	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay not ready: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	post := func(path string, body []byte, sig string) int {
		req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
		if sig != "" {
			req.Header.Set(loadgen.IimmpactHeader, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := []byte(`{"data":{"bench_seq":0}}`)
	if code := post("/webhooks/iimmpact", body, loadgen.SignIimmpact(body, []byte(secret))); code != http.StatusOK {
		t.Fatalf("ingest: status %d, want 200", code)
	}
	time.Sleep(3 * relayBlock)
	if n := log.received(); n != 0 {
		t.Fatalf("%d deliveries before /start, want 0", n)
	}
	if code := post("/start", nil, ""); code != http.StatusOK {
		t.Fatalf("start: status %d, want 200", code)
	}
	for log.received() < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n, bad := log.received(), log.badlySigned(); n != 1 || bad != 0 {
		t.Errorf("after /start: %d deliveries, %d badly signed; want 1 and 0", n, bad)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("serveRelay returned %v after its context ended, want nil", err)
	}
	done <- nil // for the cleanup
}

// A Redis crash in the middle of delivery neither stops nor wedges the
// loop: its reads fail while Redis is down, and entries written after the
// restart are delivered once and acked.
func TestRelayLoopOutlivesARedisCrash(t *testing.T) {
	ctx := context.Background()
	srv := testredis.Start(t)
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	key := []byte("0123456789abcdef0123456789abcdef")
	log, sub := startSubscriber(t, key, http.StatusOK)
	if err := rdb.XGroupCreateMkStream(ctx, relayStream, relayGroup(1), "0").Err(); err != nil {
		t.Fatal(err)
	}
	add := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: relayStream, Values: []any{"body", fmt.Sprint(i)}}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	pending := func() int64 {
		p, err := rdb.XPending(ctx, relayStream, relayGroup(1)).Result()
		if err != nil {
			return -1
		}
		return p.Count
	}

	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	l := relayLoop{rdb: rdb, client: sub.Client(), group: relayGroup(1), target: relayTarget{URL: sub.URL, Key: key}, now: time.Now}
	go func() {
		defer close(done)
		l.run(lctx)
	}()
	add(0, 10)
	waitFor("the first 10 delivered and acked", func() bool { return log.received() == 10 && pending() == 0 })

	srv.Kill()
	time.Sleep(3 * relayBlock) // reads fail meanwhile
	select {
	case <-done:
		t.Fatal("the loop stopped when Redis went away")
	default:
	}
	srv.Restart()
	add(10, 10)
	waitFor("the 10 written after the restart delivered and acked", func() bool { return log.received() == 20 && pending() == 0 })
	stop()
	<-done
	if bad := log.badlySigned(); bad != 0 {
		t.Errorf("%d deliveries badly signed", bad)
	}
}
