package boltstore

import (
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/storetest"
)

// TestConformance runs the Store contract suite against a fresh store in
// its own directory per test.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, cfg gateway.StoreConfig) gateway.Store {
		cfg.Path = t.TempDir()
		s, err := Open(cfg)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
