package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookgate/hookgate/internal/testnats"
)

// TestQueueNATS: the real binary publishes to a JetStream subject; each
// message is the envelope with verifying webhook-* headers and
// Nats-Msg-Id = the envelope id, so a redelivery from the admin API is
// acknowledged (delivered again) and the stream still holds it once.
func TestQueueNATS(t *testing.T) {
	t.Parallel()
	srv := testnats.Start(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CATALOG", Subjects: []string{"catalog.events"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}

	w := newWorld(t, embedded)
	key := make([]byte, 32)
	rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	w.subscribers["feed"] = map[string]any{
		"kind": "nats", "url": srv.URL(), "topic": "catalog.events", "secret": secret,
		"headers": map[string]string{"X-Team": "search"}, "retry": fastRetry,
	}
	g := w.start()
	active := true
	g.mustAccept(catalogProduct("N1", 1, &active))
	id := g.eventID(t, "iimmpact.product.updated", "product/N1")
	g.waitDelivery(t, id, "feed", "delivered")

	msgs := func() uint64 {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatalf("stream info: %v", err)
		}
		return info.State.Msgs
	}
	if n := msgs(); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
	m, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		h.Set(k, m.Header.Get(k))
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	if err := wh.Verify(m.Data, h); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	if m.Header.Get("Nats-Msg-Id") != id || m.Header.Get("webhook-id") != id || m.Header.Get("X-Team") != "search" {
		t.Errorf("headers %v: want Nats-Msg-Id and webhook-id %s, X-Team search", m.Header, id)
	}

	// Redelivered with the same id: JetStream acknowledges the duplicate
	// and keeps one message.
	if code, err := g.adminDo("POST", "/admin/api/events/"+id+"/redeliver", nil); err != nil || code != http.StatusAccepted {
		t.Fatalf("redeliver: %d %v", code, err)
	}
	waitFor(t, 30*time.Second, "redelivered", func() (bool, string) {
		d, _ := g.event(t, id).deliveryTo("feed")
		return d.Status == "delivered" && len(d.History) == 2, d.Status
	})
	if n := msgs(); n != 1 {
		t.Errorf("stream holds %d messages after the redelivery, want 1 (deduplicated by Nats-Msg-Id)", n)
	}
}
