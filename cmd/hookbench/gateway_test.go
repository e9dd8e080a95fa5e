package main

import (
	"context"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/loadgen"
)

func TestWaitAll(t *testing.T) {
	tests := []struct {
		name     string
		accepted []bool
		want     bool
	}{
		{"nothing accepted: nothing to wait for", []bool{false, false}, true},
		{"an accepted event never arrives: gives up when idle", []bool{true, false}, false},
	}
	for _, tt := range tests {
		sink, err := loadgen.NewSink(randomWhsec(), len(tt.accepted), 64, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		_, got := waitAll(context.Background(), []*loadgen.Sink{sink}, tt.accepted, time.Minute, 100*time.Millisecond)
		if got != tt.want {
			t.Errorf("%s: drained %v, want %v", tt.name, got, tt.want)
		}
	}
}
