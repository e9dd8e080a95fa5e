package main

import (
	"testing"
	"time"
)

func TestStatCPU(t *testing.T) {
	tests := []struct {
		name, stat string
		want       time.Duration
		wantOK     bool
	}{
		{"plain", "4242 (hookgate) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 31 0 0 20 0 9 0 100 0 0", 2810 * time.Millisecond, true},
		{"name with ') ' in it", "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 0 0", 70 * time.Millisecond, true},
		{"cut short", "7 (x) R 1 7", 0, false},
		{"not numbers", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 u s 0 0", 0, false},
		{"no name", "garbage", 0, false},
	}
	for _, tt := range tests {
		got, ok := statCPU(tt.stat)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%s: statCPU = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestCPUUsePerEvent(t *testing.T) {
	c := &cpuUse{Server: 2 * time.Second, Redis: time.Second, Bench: time.Second, Wall: 4 * time.Second, Per: 100_000}
	if got := c.each(c.Server); got != 20 {
		t.Errorf("each(server) = %v µs, want 20", got)
	}
	if got := c.busy(2); got != 0.5 {
		t.Errorf("busy = %v, want 0.5", got)
	}
	var none *cpuUse
	if none.each(time.Second) != 0 || none.busy(2) != 0 {
		t.Errorf("a run without a measure reads as 0")
	}
	if got := costRatio(30, 10); got != "3.0×" {
		t.Errorf("costRatio(30, 10) = %q", got)
	}
	if got := costRatio(30, 0); got != "-" {
		t.Errorf("costRatio without a floor = %q, want -", got)
	}
}
