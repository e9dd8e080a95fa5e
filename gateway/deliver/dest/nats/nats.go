// Package nats is the nats queue destination: each delivery is one
// JetStream publish to the subscriber's subject, delivered once the
// stream's PubAck arrives. The message id (Nats-Msg-Id) is the envelope
// id, so a stream deduplicates a redelivery within its duplicate window.
package nats

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookgate/hookgate/gateway"
)

// Kind is the value of subscribers.<name>.kind.
const Kind = "nats"

// reconnectWait paces reconnection to a server that went away.
const reconnectWait = time.Second

func init() {
	gateway.RegisterDestination(Kind, &gateway.DestinationDriver{
		Schemes: []string{"nats", "tls"},
		Topic:   "the JetStream subject",
		Headers: true,
		Open:    Open,
	})
}

var _ gateway.Destination = (*Destination)(nil)

// Destination publishes to one JetStream subject over one connection,
// which all of the subscriber's attempts share (a NATS connection
// multiplexes requests). Safe for concurrent use.
type Destination struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
}

// Open connects to cfg.URL (user and password, or a token, from its
// userinfo) without waiting for the server: the connection is made, and
// remade after a failure, in the background, and Publish fails until it
// is up.
func Open(cfg *gateway.SubscriberConfig) (gateway.Destination, error) {
	nc, err := nats.Connect(cfg.URL,
		nats.Name("hookgate"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		// No buffering while disconnected: a publish fails at once and
		// is retried under the subscriber's policy, rather than sent
		// later behind the attempt's back.
		nats.ReconnectBufSize(-1),
		nats.NoCallbacksAfterClientClose(),
	)
	if err != nil {
		return nil, errors.New("nats: cannot use the url") // the error may quote it
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	return &Destination{nc: nc, js: js, subject: cfg.Topic}, nil
}

// Publish sends m with the Standard Webhooks headers and waits for the
// stream's acknowledgement. A duplicate (the stream already holds this
// Nats-Msg-Id) is acknowledged as well, and is delivered.
func (d *Destination) Publish(ctx context.Context, m *gateway.Message) error {
	if !d.nc.IsConnected() {
		return errors.New("nats: not connected")
	}
	msg := nats.NewMsg(d.subject)
	msg.Data = m.Body
	h := msg.Header
	h.Set("Content-Type", "application/cloudevents+json")
	h.Set("webhook-id", m.ID)
	h.Set("webhook-timestamp", strconv.FormatInt(m.Timestamp.Unix(), 10))
	h.Set("webhook-signature", m.Signature)
	for _, x := range m.Headers {
		h.Set(x.Key, x.Value)
	}
	if _, err := d.js.PublishMsg(ctx, msg, jetstream.WithMsgID(m.ID)); err != nil {
		return fmt.Errorf("jetstream publish: %w", err)
	}
	return nil
}

// Close closes the connection.
func (d *Destination) Close() error {
	d.nc.Close()
	return nil
}
