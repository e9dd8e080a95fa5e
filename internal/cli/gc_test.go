package cli

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	env := map[string]string{"GOGC": "50"}
	if got := tuneGC(func(k string) string { return env[k] }); got != 0 {
		t.Errorf("with GOGC set: tuneGC = %d, want 0 (the operator's value stands)", got)
	}
	if now := debug.SetGCPercent(100); now != 100 {
		t.Errorf("with GOGC set: GC percent = %d, want it left at 100", now)
	}

	if got := tuneGC(func(string) string { return "" }); got != defaultGCPercent {
		t.Errorf("without GOGC: tuneGC = %d, want %d", got, defaultGCPercent)
	}
	if now := debug.SetGCPercent(100); now != defaultGCPercent {
		t.Errorf("without GOGC: GC percent = %d, want %d", now, defaultGCPercent)
	}
}
