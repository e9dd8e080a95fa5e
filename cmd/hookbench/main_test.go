package main

import (
	"slices"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/loadgen"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    bool
		wantStores []string
	}{
		{"defaults", nil, false, []string{"embedded"}},
		{"both stores", []string{"-mode", "both", "-store", "embedded,redis"}, false, []string{"embedded", "redis"}},
		{"unknown store", []string{"-store", "etcd"}, true, nil},
		{"unknown mode", []string{"-mode", "fast"}, true, nil},
		{"mix above 1", []string{"-mix", "2"}, true, nil},
		{"batch over 100", []string{"-batch", "101"}, true, nil},
		{"zero concurrency", []string{"-c", "0"}, true, nil},
		{"stray argument", []string{"extra"}, true, nil},
	}
	for _, tt := range tests {
		o, err := parseFlags(tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v, want error %v", tt.name, err, tt.wantErr)
			continue
		}
		if err == nil && !slices.Equal(o.Stores, tt.wantStores) {
			t.Errorf("%s: stores %v, want %v", tt.name, o.Stores, tt.wantStores)
		}
	}
}

func TestFinishFailures(t *testing.T) {
	zero, one := 0, 1
	ok := loadgen.LoadResult{Accepted: 10, AcceptedEvents: 10, Elapsed: 2 * time.Second}
	tests := []struct {
		name string
		r    runResult
		want int // failures
	}{
		{"clean", runResult{Load: ok, ExitCode: &zero}, 0},
		{"lost", runResult{Load: ok, ExitCode: &zero, Sinks: []loadgen.SinkCounts{{Lost: 2}}}, 1},
		{"bad signature", runResult{Load: ok, ExitCode: &zero, Sinks: []loadgen.SinkCounts{{BadSignatures: 1}}}, 1},
		{"duplicates are not failures", runResult{Load: ok, ExitCode: &zero, Sinks: []loadgen.SinkCounts{{Duplicates: 3}}}, 0},
		{"exit 1", runResult{Load: ok, ExitCode: &one}, 1},
		{"never stopped", runResult{Load: ok}, 1},
		{"nothing accepted", runResult{ExitCode: &zero}, 1},
	}
	for _, tt := range tests {
		tt.r.finish()
		if len(tt.r.Failures) != tt.want {
			t.Errorf("%s: failures %q, want %d", tt.name, tt.r.Failures, tt.want)
		}
	}
	r := runResult{Load: ok, ExitCode: &zero}
	r.finish()
	if r.IngestRPS != 5 || r.IngestEPS != 5 {
		t.Errorf("rates %v req/s %v events/s, want 5 and 5", r.IngestRPS, r.IngestEPS)
	}
}
