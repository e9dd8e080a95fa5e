package redisstream_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	_ "github.com/hookgate/hookgate/gateway/deliver/dest/redisstream"
	"github.com/hookgate/hookgate/gateway/deliver/desttest"
	"github.com/hookgate/hookgate/internal/testredis"
)

// TestConformance runs the destination suite against a real redis-server.
func TestConformance(t *testing.T) {
	desttest.Run(t, desttest.Kit{Kind: "redis_stream", Start: start})
}

func start(t *testing.T) *desttest.Broker {
	srv := testredis.Start(t)
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Set(context.Background(), "hooks:a-string", "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	return &desttest.Broker{
		URL: srv.URL(), Topic: "hooks:catalog", RefusedTopic: "hooks:a-string",
		Read: func(t *testing.T) []desttest.Received { return read(t, rdb, "hooks:catalog") },
		Stop: srv.Stop, Restart: srv.Restart,
	}
}

// read returns the stream's entries, the fields id, timestamp and
// signature as the Standard Webhooks header names.
func read(t *testing.T, rdb *redis.Client, key string) []desttest.Received {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE: %v", err)
	}
	var out []desttest.Received
	for _, m := range msgs {
		if len(m.Values) != 4 {
			t.Errorf("entry %s has fields %v, want id, timestamp, signature, body", m.ID, m.Values)
		}
		str := func(k string) string { s, _ := m.Values[k].(string); return s }
		out = append(out, desttest.Received{Body: []byte(str("body")), Headers: map[string]string{
			"webhook-id": str("id"), "webhook-timestamp": str("timestamp"), "webhook-signature": str("signature"),
		}})
	}
	return out
}
