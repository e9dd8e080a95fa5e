package config_test

import (
	"testing"
	"time"
)

func TestBackfillConfig(t *testing.T) {
	retention := "store:\n  retention: 1h\n  dedupe_window: 1h\n"
	bad := []struct {
		name string
		src  string
		want []string
	}{
		{"longer than retention", retention + withSub("    retry: {max_age: 1h}\n    backfill: 2h\n"),
			[]string{"config.yaml:13: subscribers.s.backfill: 2h0m0s is longer than store.retention (1h0m0s)"}},
		{"negative", withSub("    backfill: -1h\n"),
			[]string{"config.yaml:9: subscribers.s.backfill: must be >= 0"}},
		{"not a duration", withSub("    backfill: yesterday\n"),
			[]string{"config.yaml:9: subscribers.s.backfill:"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			checkErrLines(t, errLines(t, tt.src, nil), tt.want)
		})
	}
	for _, tt := range []struct {
		name string
		src  string
		want time.Duration
	}{
		{"default off", withSub(""), 0},
		{"a day", withSub("    backfill: 24h\n"), 24 * time.Hour},
		{"equal to retention", retention + withSub("    retry: {max_age: 1h}\n    backfill: 1h\n"), time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustParse(t, tt.src, nil).Subscribers["s"].Backfill; got != tt.want {
				t.Errorf("backfill = %v, want %v", got, tt.want)
			}
		})
	}
}
