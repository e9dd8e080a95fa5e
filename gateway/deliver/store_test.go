package deliver

import (
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/boltstore"
)

// openStore returns a fresh real store for one test.
func openStore(t testing.TB) gateway.Store {
	t.Helper()
	s, err := boltstore.Open(gateway.StoreConfig{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openShared returns two handles on one fresh store, as two gateway
// processes would have.
func openShared(t testing.TB) (gateway.Store, gateway.Store) {
	s := openStore(t)
	return s, s
}
