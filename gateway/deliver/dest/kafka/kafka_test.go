package kafka_test

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	_ "github.com/hookgate/hookgate/gateway/deliver/dest/kafka"
	"github.com/hookgate/hookgate/gateway/deliver/desttest"
)

const topic = "catalog-events"

// TestConformance runs the destination suite against franz-go's
// in-process Kafka cluster (kfake), which speaks the Kafka protocol on a
// real loopback port: no Kafka broker can be installed where the tests
// run (README, "Queue destinations"). It keeps its log in a directory,
// so a restart on the same port finds what it held.
func TestConformance(t *testing.T) {
	desttest.Run(t, desttest.Kit{Kind: "kafka", Start: start})
}

func start(t *testing.T) *desttest.Broker {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	var c *kfake.Cluster
	up := func() {
		c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir), kfake.SyncWrites(),
			kfake.SeedTopics(3, topic))
		if err != nil {
			t.Fatalf("kfake: %v", err)
		}
	}
	up()
	t.Cleanup(func() { c.Close() })
	addr := c.ListenAddrs()[0]
	return &desttest.Broker{
		URL: "kafka://" + addr, Topic: topic, RefusedTopic: "no-such-topic",
		Read: func(t *testing.T) []desttest.Received { return read(t, addr) },
		Stop: func() { c.Close() }, Restart: up,
	}
}

// read consumes the topic from its start: it waits up to 10s for the
// first records (a new consumer looks up metadata and offsets first), then
// stops at the first poll that brings nothing more.
func read(t *testing.T, addr string) []desttest.Received {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []desttest.Received
	first := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			if want := subjectOf(t, r.Value); string(r.Key) != want {
				t.Errorf("record key %q, want the subject %q", r.Key, want)
			}
			out = append(out, desttest.Received{Body: r.Value, Headers: h})
		})
		if n == 0 && (len(out) > 0 || time.Now().After(first)) {
			return out
		}
	}
}

func subjectOf(t *testing.T, body []byte) string {
	var env struct {
		Subject string `json:"subject"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Errorf("record value is not JSON: %v", err)
	}
	return env.Subject
}
