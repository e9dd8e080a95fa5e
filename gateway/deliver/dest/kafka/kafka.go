// Package kafka is the kafka queue destination: each delivery is one
// record produced to the subscriber's topic by an idempotent producer
// with acks=all, keyed by the envelope subject so that one subject stays
// in one partition, delivered once every in-sync replica has it.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookgate/hookgate/gateway"
)

// Kind is the value of subscribers.<name>.kind.
const Kind = "kafka"

func init() {
	gateway.RegisterDestination(Kind, &gateway.DestinationDriver{
		Schemes: []string{"kafka"},
		Topic:   "the Kafka topic",
		Addrs:   true,
		Headers: true,
		Check:   check,
		Open:    Open,
	})
}

var _ gateway.Destination = (*Destination)(nil)

// Destination produces to one topic. Safe for concurrent use: one
// franz-go client, which connects to the seeds and the partition leaders
// when first needed and again after a failure.
type Destination struct {
	cl *kgo.Client
}

// check refuses what this destination cannot do yet: credentials (SASL)
// and a path or query, which Kafka URLs do not have.
func check(u *url.URL) error {
	switch {
	case u.User != nil:
		return errors.New("credentials (SASL) are not supported for kind: kafka")
	case u.Path != "" && u.Path != "/", u.RawQuery != "":
		return errors.New("must be kafka://host:port (more brokers in addrs)")
	}
	return nil
}

// Open makes the producer for cfg.URL's host and cfg.Addrs, without
// waiting for a broker.
func Open(cfg *gateway.SubscriberConfig) (gateway.Destination, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return nil, errors.New("kafka: url does not parse") // the parser's message may quote it
	}
	seeds := append([]string{u.Host}, cfg.Addrs...)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("hookgate"),
		kgo.DefaultProduceTopic(cfg.Topic),
		// acks=all with the idempotent producer (franz-go's default,
		// stated here because the delivery guarantee rests on it): a
		// record is acknowledged once every in-sync replica has it, and
		// the client's own retries of a request are deduplicated.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Keyed by subject, murmur2 as the Java client, so one subject
		// stays in one partition; records without a subject spread.
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		// A record is given up after the attempt's timeout, so that a
		// publish never outlives its attempt by much.
		kgo.RecordDeliveryTimeout(cfg.Timeout),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(max(cfg.MaxInFlight, 1)*2),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &Destination{cl: cl}, nil
}

// Publish produces m, the Standard Webhooks values as record headers,
// and waits for acks=all.
func (d *Destination) Publish(ctx context.Context, m *gateway.Message) error {
	r := &kgo.Record{Value: m.Body, Headers: make([]kgo.RecordHeader, 0, 4+len(m.Headers))}
	if m.Subject != "" {
		r.Key = []byte(m.Subject)
	}
	r.Headers = append(r.Headers,
		kgo.RecordHeader{Key: "content-type", Value: []byte("application/cloudevents+json")},
		kgo.RecordHeader{Key: "webhook-id", Value: []byte(m.ID)},
		kgo.RecordHeader{Key: "webhook-timestamp", Value: []byte(strconv.FormatInt(m.Timestamp.Unix(), 10))},
		kgo.RecordHeader{Key: "webhook-signature", Value: []byte(m.Signature)},
	)
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)})
	}
	if err := d.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	return nil
}

// Close flushes nothing (every Publish has waited for its record) and
// closes the client.
func (d *Destination) Close() error {
	d.cl.Close()
	return nil
}
