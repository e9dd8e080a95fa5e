package testredis

import (
	"testing"

	"github.com/hookgate/hookgate/internal/redisproc"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	if err := redisproc.Ping(s.Socket()); err != nil {
		t.Fatalf("ping after Start: %v", err)
	}
	s.Stop()
	if err := redisproc.Ping(s.Socket()); err == nil {
		t.Fatal("ping after Stop succeeded, want an error")
	}
	s.Restart()
	if err := redisproc.Ping(s.Socket()); err != nil {
		t.Fatalf("ping after Restart: %v", err)
	}
}
