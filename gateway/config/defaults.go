package config

import (
	"math"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// Defaults of the blocks other than subscribers, as SPEC 2 gives them.
const (
	DefaultListen      = "127.0.0.1:8080"
	DefaultAdminListen = "127.0.0.1:9090"
	DefaultMaxBody     = 5 * gateway.MB
	DefaultMaxPending  = 64 * gateway.MB
	// DefaultMaxPendingPerClient is a quarter of DefaultMaxPending: one
	// client address cannot hold more than that of the body budget.
	DefaultMaxPendingPerClient = 16 * gateway.MB
	// DefaultMaxConnsPerClient is an eighth of the connections the public
	// listener serves at once (2048).
	DefaultMaxConnsPerClient = 256
	// DefaultMinUploadRate: a provider uploads far faster; an attacker
	// holding budget with a trickle must spend this much bandwidth per
	// connection.
	DefaultMinUploadRate gateway.ByteRate = 16 << 10
	DefaultStorePath                      = "./data"
	DefaultRedisPrefix                    = "hookgate"
	DefaultRetention                      = 168 * time.Hour
	DefaultDedupeWindow                   = 72 * time.Hour
	// DefaultTombstoneWindow: a month past retention, a replayed capture
	// is still refused; see gateway.StoreConfig.TombstoneWindow.
	DefaultTombstoneWindow = 720 * time.Hour
)

// Subscriber defaults, as SPEC 2 gives them.
const (
	DefaultTimeout             = 10 * time.Second
	DefaultMaxInFlight         = 16
	DefaultMaxAttempts         = 10
	DefaultInitialBackoff      = 2 * time.Second
	DefaultMaxBackoff          = 10 * time.Minute
	DefaultMaxAge              = 24 * time.Hour
	DefaultConsecutiveFailures = 5
	DefaultCooldown            = 30 * time.Second
)

// Default returns a Config holding every default and no sources or
// subscribers. It is not valid by itself: a config needs a source.
func Default() *gateway.Config {
	return &gateway.Config{
		Server: gateway.ServerConfig{Listen: DefaultListen, MaxBody: DefaultMaxBody, MaxPendingBytes: DefaultMaxPending,
			MaxPendingBytesPerClient: DefaultMaxPendingPerClient, MaxConnsPerClient: DefaultMaxConnsPerClient,
			MinUploadRate: DefaultMinUploadRate},
		Admin: gateway.AdminConfig{Listen: DefaultAdminListen},
		Log:   gateway.LogConfig{Level: "info", Format: "auto"},
		Store: gateway.StoreConfig{
			Path:            DefaultStorePath,
			Retention:       DefaultRetention,
			DedupeWindow:    DefaultDedupeWindow,
			TombstoneWindow: DefaultTombstoneWindow,
		},
	}
}

// DefaultSubscriber returns a subscriber holding every setting that has a
// default: events ["**"], timeout, max_in_flight, retry and breaker.
func DefaultSubscriber() *gateway.SubscriberConfig {
	return &gateway.SubscriberConfig{
		Events:      []string{"**"},
		Timeout:     DefaultTimeout,
		MaxInFlight: DefaultMaxInFlight,
		Retry: gateway.RetryConfig{
			MaxAttempts:    DefaultMaxAttempts,
			InitialBackoff: DefaultInitialBackoff,
			MaxBackoff:     DefaultMaxBackoff,
			MaxAge:         DefaultMaxAge,
		},
		Breaker: gateway.BreakerConfig{ConsecutiveFailures: DefaultConsecutiveFailures, Cooldown: DefaultCooldown},
	}
}

// defaultRedis returns a store.redis block with its default key prefix.
func defaultRedis() *gateway.RedisConfig {
	return &gateway.RedisConfig{Prefix: DefaultRedisPrefix}
}

// defaultBurst is a rate_limit's burst when the file gives none: one
// second's worth of the rate, at least 1.
func defaultBurst(r gateway.Rate) int {
	return max(1, int(math.Ceil(float64(r))))
}
