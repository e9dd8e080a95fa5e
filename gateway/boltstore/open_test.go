package boltstore

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// openTest opens a store in dir and closes it when the test ends (a second
// Close is harmless).
func openTest(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(gateway.StoreConfig{Path: dir, Retention: 24 * time.Hour, DedupeWindow: time.Hour})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*Store)
}

func testEvent(id string, recv time.Time, subs ...string) gateway.NewEvent {
	return gateway.NewEvent{
		Envelope:    gateway.Envelope{ID: id, Source: "src1", Type: "src1.product.updated"},
		Body:        []byte(`{"id":"` + id + `"}`),
		ReceivedAt:  recv,
		Subscribers: subs,
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	first := openTest(t, dir)

	_, err := Open(gateway.StoreConfig{Path: dir})
	if !errors.Is(err, gateway.ErrLocked) {
		t.Fatalf("second Open: got %v, want an error wrapping ErrLocked", err)
	}
	for _, want := range []string{filepath.Join(dir, FileName), "another hookgate", "not damaged"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second Open error %q does not mention %q", err, want)
		}
	}

	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	openTest(t, dir) // the lock went with the first store
}

// TestOpenLockedByAnotherProcess holds a store and opens the same directory
// from a child process (this test binary, re-run): the child must get
// ErrLocked, as a second hookgate on one data directory would.
func TestOpenLockedByAnotherProcess(t *testing.T) {
	if dir := os.Getenv("BOLTSTORE_CHILD_DIR"); dir != "" {
		_, err := Open(gateway.StoreConfig{Path: dir})
		if !errors.Is(err, gateway.ErrLocked) {
			t.Fatalf("child Open: got %v, want ErrLocked", err)
		}
		return
	}
	dir := t.TempDir()
	openTest(t, dir)
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenLockedByAnotherProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BOLTSTORE_CHILD_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("child process: %v\n%s", err, out)
	}
}

func TestOpenThroughRegistry(t *testing.T) {
	s, err := gateway.OpenStore(gateway.StoreConfig{Path: t.TempDir()})
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	defer s.Close()
	if _, ok := s.(*Store); !ok {
		t.Errorf("OpenStore with no redis block gave %T, want *boltstore.Store", s)
	}
}

func TestReopenKeepsState(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openTest(t, dir)
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_keep", t0, "sub-a")}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	cs, err := s.Claim(ctx, "sub-a", t0, 10, time.Minute)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Claim = %d, %v; want 1 claim", len(cs), err)
	}
	if err := s.SetPaused(ctx, "sub-a", gateway.PauseGone); err != nil {
		t.Fatalf("SetPaused: %v", err)
	}
	s.Close()

	// Leases live in memory: a reopened store (a restarted process) holds
	// none, so the delivery is due again at once, long before the lease
	// would have ended, and the old claim is stale.
	s = openTest(t, dir)
	err = s.Record(ctx, cs[0], gateway.Outcome{Status: gateway.StatusDelivered,
		Attempt: gateway.Attempt{At: t0.Add(time.Second), StatusCode: 204}})
	if !errors.Is(err, gateway.ErrLeaseLost) {
		t.Errorf("Record after reopen with the lease taken before = %v, want ErrLeaseLost", err)
	}
	if reason, err := s.Paused(ctx, "sub-a"); err != nil || reason != gateway.PauseGone {
		t.Errorf("Paused after reopen = %q, %v; want %q", reason, err, gateway.PauseGone)
	}
	if cs, err := s.Claim(ctx, "sub-a", t0.Add(time.Second), 10, time.Minute); err != nil || len(cs) != 0 {
		t.Errorf("Claim after reopen while paused = %d claims, %v; want none", len(cs), err)
	}
	if err := s.SetPaused(ctx, "sub-a", gateway.PauseNone); err != nil {
		t.Fatalf("SetPaused(none): %v", err)
	}
	again, err := s.Claim(ctx, "sub-a", t0.Add(time.Second), 10, time.Minute)
	if err != nil || len(again) != 1 || again[0].Attempts != 0 {
		t.Fatalf("Claim after reopen, within the old lease = %+v, %v; want the delivery, 0 attempts", again, err)
	}
	if err := s.Record(ctx, again[0], gateway.Outcome{Status: gateway.StatusDelivered,
		Attempt: gateway.Attempt{At: t0.Add(time.Second), StatusCode: 204}}); err != nil {
		t.Errorf("Record after reopen: %v", err)
	}
	res, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_keep", t0.Add(time.Minute), "sub-a")})
	if err != nil || !res[0].Duplicate {
		t.Errorf("Put again after reopen = %+v, %v; want a duplicate", res, err)
	}
	if st, err := s.Stats(ctx, "sub-a"); err != nil || st.Delivered != 1 || st.Pending != 0 {
		t.Errorf("Stats after reopen = %+v, %v; want delivered 1, pending 0", st, err)
	}
}

func TestClosedIsUnavailable(t *testing.T) {
	s := openTest(t, t.TempDir())
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"Put", func() error { _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_x", t0)}); return err }},
		{"Claim", func() error { _, err := s.Claim(ctx, "sub-a", t0, 1, time.Minute); return err }},
		{"Event", func() error { _, err := s.Event(ctx, "evt_x"); return err }},
		{"List", func() error { _, err := s.List(ctx, gateway.EventFilter{}); return err }},
		{"Sweep", func() error { return s.Sweep(ctx, t0) }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, gateway.ErrUnavailable) {
			t.Errorf("%s on a closed store: got %v, want ErrUnavailable", c.name, err)
		}
	}
}

func TestCallerMistakes(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"List with a bad cursor", func() error { _, err := s.List(ctx, gateway.EventFilter{Cursor: "!!"}); return err }},
		{"Put without an id", func() error { _, err := s.Put(ctx, []gateway.NewEvent{testEvent("", t0)}); return err }},
		{"Record with no status", func() error { return s.Record(ctx, gateway.Claim{EventID: "e", Subscriber: "s"}, gateway.Outcome{}) }},
	}
	for _, c := range calls {
		err := c.call()
		if err == nil || errors.Is(err, gateway.ErrUnavailable) {
			t.Errorf("%s: got %v, want an error that is not ErrUnavailable", c.name, err)
		}
	}
}
