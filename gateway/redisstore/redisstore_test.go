package redisstore

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/storetest"
	"github.com/hookgate/hookgate/internal/testredis"
)

// TestStoreConformance runs the shared Store suite on one real
// redis-server, each subtest isolated by its own key prefix. The suite
// injects times far from the wall clock, so the stores judge leases by
// them rather than by Redis's TIME (TestServerClock covers that).
func TestStoreConformance(t *testing.T) {
	srv := testredis.Start(t)
	runConformance(t, func(prefix string) *gateway.RedisConfig {
		return &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: prefix}
	})
}

// runConformance runs the shared Store suite on stores configured by
// config, each subtest isolated by a key prefix of its own, with the
// suite's clock (CallerClock).
func runConformance(t *testing.T, config func(prefix string) *gateway.RedisConfig) {
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T, cfg gateway.StoreConfig) gateway.Store {
		cfg.Redis = config(fmt.Sprintf("t%d", n.Add(1)))
		s, err := open(cfg, CallerClock())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
