package redisstore

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
)

// newClient connects as store.redis says (SPEC 2): with master_name,
// through Sentinel (the URL's host and addrs are the sentinels); with
// addrs alone, as a Redis Cluster (the URL's host and addrs are seeds);
// otherwise to the one server of the URL: redis://, rediss:// or unix://.
// Credentials, TLS and the database come from the URL in every case.
func newClient(cfg *gateway.RedisConfig) (redis.UniversalClient, error) {
	opts, err := redis.ParseURL(cfg.URL.Reveal())
	if err != nil {
		return nil, redactURLError(err)
	}
	if opts.DialerRetries == 0 {
		opts.DialerRetries = fewDials
	}
	if opts.Protocol == 0 {
		// RESP2 unless the URL asks (?protocol=3): under RESP3 go-redis
		// peeks for push notifications around every reply, which the store
		// never uses (no client-side caching, no pub/sub), at ~5% of the
		// gateway's CPU in a delivery run.
		opts.Protocol = 2
	}
	switch {
	case cfg.MasterName != "":
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:    cfg.MasterName,
			SentinelAddrs: append([]string{opts.Addr}, cfg.Addrs...),
			Username:      opts.Username,
			Password:      opts.Password,
			DB:            opts.DB,
			TLSConfig:     opts.TLSConfig,
			DialerRetries: opts.DialerRetries,
			Protocol:      opts.Protocol,
		}), nil
	case len(cfg.Addrs) > 0:
		if opts.DB != 0 {
			return nil, fmt.Errorf("store.redis.url: database %d: a Redis Cluster has only database 0", opts.DB)
		}
		return redis.NewClusterClient(&redis.ClusterOptions{
			// ASK is not followed: while a slot moves, a script sent to
			// its new owner would find the keys not yet moved missing and
			// write beside them, splitting the store (the scripts name
			// only their partition's hash tag, not every key they touch).
			// Refused, the call is answered unavailable and tried again
			// once the move is over. MOVED after a failover is refused
			// too, and the client learns the new slot map from it.
			MaxRedirects:  -1,
			Addrs:         append([]string{opts.Addr}, cfg.Addrs...),
			Username:      opts.Username,
			Password:      opts.Password,
			TLSConfig:     opts.TLSConfig,
			DialerRetries: opts.DialerRetries,
			Protocol:      opts.Protocol,
		}), nil
	default:
		return redis.NewClient(opts), nil
	}
}

// fewDials: go-redis dials 5 times per try and tries 4 times, so with
// Redis down ingest would wait ~2s for its 503. Fewer dials fail sooner.
const fewDials = 2

// redactURLError keeps the reason of a URL error: url.Error repeats the
// whole URL, password included.
func redactURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return fmt.Errorf("store.redis.url: %w", err)
}
