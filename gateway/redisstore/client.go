package redisstore

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/redis/go-redis/v9"
)

// newClient connects as the URL says: with a master_name query parameter
// through Sentinel (the host and any addr= parameters are sentinels); with
// addr= parameters as a Redis Cluster (the host and the addrs are seeds);
// otherwise one server: redis://, rediss:// or unix://. Every key of a
// store shares one hash tag, hence one cluster slot, so the Lua scripts
// work unchanged on a cluster.
func newClient(rawURL string) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, redactURLError(err)
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		opts, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, redactURLError(err)
		}
		if opts.DialerRetries == 0 {
			opts.DialerRetries = fewDials
		}
		return redis.NewFailoverClient(opts), nil
	case q.Has("addr"):
		opts, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, redactURLError(err)
		}
		if opts.DialerRetries == 0 {
			opts.DialerRetries = fewDials
		}
		return redis.NewClusterClient(opts), nil
	default:
		opts, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, redactURLError(err)
		}
		if opts.DialerRetries == 0 {
			opts.DialerRetries = fewDials
		}
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
