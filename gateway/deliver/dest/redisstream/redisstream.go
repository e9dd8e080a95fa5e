// Package redisstream is the redis_stream queue destination: each
// delivery is one XADD to the subscriber's stream key, with the fields
// id, timestamp, signature and body, delivered once the server replies
// with the entry's id.
package redisstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
)

// Kind is the value of subscribers.<name>.kind.
const Kind = "redis_stream"

func init() {
	gateway.RegisterDestination(Kind, &gateway.DestinationDriver{
		Schemes: []string{"redis", "rediss", "unix"},
		Topic:   "the stream key",
		Open:    Open,
	})
}

var _ gateway.Destination = (*Destination)(nil)

// Destination appends to one stream. Safe for concurrent use: go-redis
// keeps a pool of max_in_flight connections, dialed when first needed and
// again after a failure.
type Destination struct {
	rdb *redis.Client
	key string
}

// Open connects (lazily) to cfg.URL for the stream cfg.Topic.
func Open(cfg *gateway.SubscriberConfig) (gateway.Destination, error) {
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		// Not wrapped: the parser's message may quote the URL, password
		// and all.
		return nil, errors.New("redis_stream: url does not parse")
	}
	opts.PoolSize = max(cfg.MaxInFlight, 1)
	// A command is sent once per attempt: go-redis retrying an XADD whose
	// reply was lost would append it twice without the attempt knowing.
	// hookgate's retry policy decides when to try again.
	opts.MaxRetries = -1
	opts.ContextTimeoutEnabled = true // the attempt's timeout bounds the command
	return &Destination{rdb: redis.NewClient(opts), key: cfg.Topic}, nil
}

// Publish appends m to the stream: XADD key * id … timestamp … signature
// … body …. The reply (the new entry's id) is the acknowledgement; Redis
// has no deduplication, so an attempt whose reply was lost and that is
// retried leaves the entry twice, with the same id field.
func (d *Destination) Publish(ctx context.Context, m *gateway.Message) error {
	err := d.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: d.key,
		Values: []any{
			"id", m.ID,
			"timestamp", strconv.FormatInt(m.Timestamp.Unix(), 10),
			"signature", m.Signature,
			"body", m.Body,
		},
	}).Err()
	if err != nil {
		return fmt.Errorf("xadd: %w", err)
	}
	return nil
}

// Close closes the connection pool.
func (d *Destination) Close() error { return d.rdb.Close() }
