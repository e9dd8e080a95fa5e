package main

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestVmHWM(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, status string
		want         int64
		wantOK       bool
	}{
		{"running", "Name:\tgateway\nVmPeak:\t  900 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n", 50 << 20, true},
		{"zombie: no memory lines", "Name:\tgateway\nState:\tZ (zombie)\n", 0, false},
		{"garbage", "VmHWM:\tlots\n", 0, false},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, "status")
		if err := os.WriteFile(path, []byte(tt.status), 0o600); err != nil {
			t.Fatal(err)
		}
		got, ok := vmHWM(path)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%s: vmHWM = %d, %v; want %d, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
	if _, ok := vmHWM(filepath.Join(dir, "missing")); ok {
		t.Errorf("missing file: ok, want false")
	}
}

// A child's peak RSS is its own, not the parent's: getrusage would give a
// small child at least this test's 128 MB.
func TestPeakRSSIsTheChilds(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is Linux's")
	}
	big := make([]byte, 128<<20)
	for i := range big {
		big[i] = 1
	}
	p, err := startProc("sleep", filepath.Join(t.TempDir(), "sleep.log"), nil, "sleep", "0.5")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	p.stop(5 * time.Second)
	runtime.KeepAlive(big)
	if got := p.peakRSS(); got <= 0 || got > 32<<20 {
		t.Errorf("peak RSS of sleep = %d bytes, want a few MB (neither unknown nor the parent's 128 MB)", got)
	}
}
