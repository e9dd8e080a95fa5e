package testredis

import "testing"

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	if err := ping(s.Socket()); err != nil {
		t.Fatalf("ping after Start: %v", err)
	}
	s.Stop()
	if err := ping(s.Socket()); err == nil {
		t.Fatal("ping after Stop succeeded, want an error")
	}
	s.Restart()
	if err := ping(s.Socket()); err != nil {
		t.Fatalf("ping after Restart: %v", err)
	}
}
