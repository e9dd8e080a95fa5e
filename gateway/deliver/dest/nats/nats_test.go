package nats_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	_ "github.com/hookgate/hookgate/gateway/deliver/dest/nats"
	"github.com/hookgate/hookgate/gateway/deliver/desttest"
	"github.com/hookgate/hookgate/internal/testnats"
)

const subject = "hooks.catalog"

// TestConformance runs the destination suite against a real nats-server
// with JetStream.
func TestConformance(t *testing.T) {
	desttest.Run(t, desttest.Kit{Kind: "nats", Start: start, Dedupes: true})
}

func start(t *testing.T) *desttest.Broker {
	srv := testnats.Start(t)
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "HOOKS", Subjects: []string{subject}, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute,
	}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	return &desttest.Broker{
		URL: srv.URL(), Topic: subject, RefusedTopic: "no.stream.here",
		Read: func(t *testing.T) []desttest.Received { return read(t, js) },
		Stop: srv.Stop, Restart: srv.Restart,
	}
}

// read returns the stream's messages, oldest first.
func read(t *testing.T, js jetstream.JetStream) []desttest.Received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		st  jetstream.Stream
		err error
	)
	for st, err = js.Stream(ctx, "HOOKS"); err != nil && ctx.Err() == nil; st, err = js.Stream(ctx, "HOOKS") {
		time.Sleep(50 * time.Millisecond) // reconnecting after a restart
	}
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	var out []desttest.Received
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		h := map[string]string{}
		for k, v := range m.Header {
			if len(v) > 0 {
				h[k] = v[0]
			}
		}
		if h["Nats-Msg-Id"] != h["webhook-id"] {
			t.Errorf("Nats-Msg-Id %q, want the envelope id %q", h["Nats-Msg-Id"], h["webhook-id"])
		}
		out = append(out, desttest.Received{Body: m.Data, Headers: h})
	}
	return out
}
