package gateway

import (
	"errors"
	"testing"
)

// TestContain: a panic under Contain ends only the deferring function,
// which returns normally; the work in hand is failed with an error that
// wraps ErrUnavailable, and the component's count goes up by one.
func TestContain(t *testing.T) {
	count := func() int64 {
		for _, p := range Panics() {
			if p.Component == "test.contain" {
				return p.Count
			}
		}
		return 0
	}
	// The count is process-wide: measured from where it stands, so that
	// the test holds under -count=N.
	before := count()
	var failed error
	unit := func() (finished bool) {
		defer Contain("test.contain", func(err error) { failed = err })
		panic("boom")
	}
	if unit() {
		t.Error("the panicking unit reported it finished")
	}
	if !errors.Is(failed, ErrUnavailable) || !errors.Is(failed, ErrPanicked) {
		t.Errorf("work in hand failed with %v, want ErrPanicked wrapping ErrUnavailable", failed)
	}
	if got := count() - before; got != 1 {
		t.Errorf("count: got %d more, want 1", got)
	}

	failed = nil
	calm := func() { defer Contain("test.contain", func(err error) { failed = err }) }
	calm()
	if failed != nil || count()-before != 1 {
		t.Errorf("no panic: fail called with %v, count %d more; want not called, 1", failed, count()-before)
	}
}

// TestPanicsListsComponents: every component that contains panics has its
// series from the start, at 0.
func TestPanicsListsComponents(t *testing.T) {
	have := map[string]bool{}
	for _, p := range Panics() {
		have[p.Component] = true
	}
	for _, c := range []string{"http", "redisstore.put", "redisstore.record", "boltstore", "deliver.dispatcher", "deliver.send", "sweeper", "backfill", "reload"} {
		if !have[c] {
			t.Errorf("Panics() lacks %q", c)
		}
	}
}
