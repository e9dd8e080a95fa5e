package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookgate/hookgate/internal/testredis"
)

// queuePassword guards the queue's Redis; it must show nowhere.
const queuePassword = "queue-pw-e2e-7f3a9c"

// TestQueueRedisStream: the real binary delivers to a redis_stream
// subscriber, whose broker URL carries a password: each event is one
// stream entry (id, timestamp, signature, body) whose body is the
// envelope and whose signature verifies; the admin API shows kind and the
// URL without its password, and neither the log nor last_error has it.
// With the queue's Redis down, deliveries retry; back up, they are
// delivered (at least once), in order per subject.
func TestQueueRedisStream(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	q := testredis.StartTCP(t)
	setPassword := func() {
		c := redis.NewClient(&redis.Options{Addr: q.Addr()})
		defer c.Close()
		if err := c.ConfigSet(context.Background(), "requirepass", queuePassword).Err(); err != nil {
			t.Fatalf("CONFIG SET requirepass: %v", err)
		}
	}
	setPassword()
	rdb := redis.NewClient(&redis.Options{Addr: q.Addr(), Password: queuePassword})
	t.Cleanup(func() { rdb.Close() })

	key := make([]byte, 32)
	rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	w.subscribers["audit"] = map[string]any{
		"kind": "redis_stream", "url": "redis://:" + queuePassword + "@" + q.Addr() + "/0",
		"topic": "audit:events", "secret": secret, "ordering": "subject",
		"retry": fastRetry, "breaker": map[string]any{"consecutive_failures": 100, "cooldown": "100ms"},
	}
	g := w.start()

	active := true
	for i := range 3 {
		e := catalogProduct("Q1", i, &active)
		e.Timestamp = time.Now().Add(time.Duration(i) * time.Millisecond).UTC().Format("2006-01-02T15:04:05.000Z")
		g.mustAccept(e)
	}
	entries := waitEntries(t, rdb, 3)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var last time.Time
	for _, m := range entries {
		body, _ := m.Values["body"].(string)
		id, _ := m.Values["id"].(string)
		ts, _ := m.Values["timestamp"].(string)
		sig, _ := m.Values["signature"].(string)
		var env struct {
			ID, Type, Subject string
			Time              time.Time
		}
		if err := json.Unmarshal([]byte(body), &env); err != nil || env.ID != id || env.Subject != "product/Q1" {
			t.Errorf("entry %s: body %s is not the envelope of %s (%v)", m.ID, body, id, err)
		}
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		if err := wh.Verify([]byte(body), h); err != nil {
			t.Errorf("entry %s: signature does not verify: %v", m.ID, err)
		}
		if !env.Time.After(last) {
			t.Errorf("entry %s of %s out of receipt order", m.ID, env.Time)
		}
		last = env.Time
		ids = append(ids, id)
		g.waitDelivery(t, id, "audit", "delivered")
	}

	var rows []map[string]any
	g.adminGet(t, "/admin/api/subscribers", &rows)
	for _, r := range rows {
		if r["name"] != "audit" {
			continue
		}
		if r["kind"] != "redis_stream" || strings.Contains(r["url"].(string), queuePassword) || !strings.Contains(r["url"].(string), "redacted@") {
			t.Errorf("admin row: kind %v url %v; want redis_stream and the password redacted", r["kind"], r["url"])
		}
	}

	// The queue's Redis goes away: the next event retries, then lands.
	q.Stop()
	g.mustAccept(catalogProduct("Q2", 9, &active))
	id := g.eventID(t, "iimmpact.product.updated", "product/Q2")
	d := g.waitDelivery(t, id, "audit", "retrying")
	if d.LastError == "" || strings.Contains(d.LastError, queuePassword) {
		t.Errorf("last_error %q: want a reason without the password", d.LastError)
	}
	q.Restart()
	setPassword()
	g.waitDelivery(t, id, "audit", "delivered")
	if got := waitEntries(t, rdb, 4); got[3].Values["id"] != id {
		t.Errorf("fourth entry is %v, want %s", got[3].Values["id"], id)
	}
	if out := g.output(); strings.Contains(out, queuePassword) {
		t.Errorf("the gateway's log shows the queue password:\n%s", tail(out, 20))
	}
}

// waitEntries waits until the stream holds at least n entries and returns
// them, oldest first.
func waitEntries(t *testing.T, rdb *redis.Client, n int) []redis.XMessage {
	t.Helper()
	var got []redis.XMessage
	waitFor(t, 30*time.Second, "stream entries", func() (bool, string) {
		var err error
		got, err = rdb.XRange(context.Background(), "audit:events", "-", "+").Result()
		return err == nil && len(got) >= n, "entries so far: " + strings.Repeat("x", len(got))
	})
	return got
}
