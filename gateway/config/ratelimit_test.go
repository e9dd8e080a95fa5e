package config_test

import (
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

func TestRateLimitConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    gateway.RateLimit
		wantErr string
	}{
		{name: "absent", yaml: "", want: gateway.RateLimit{}},
		{name: "per second", yaml: "    rate_limit: 20/s\n", want: gateway.RateLimit{Rate: 20, Burst: 20}},
		{name: "per minute", yaml: "    rate_limit: 30/m\n", want: gateway.RateLimit{Rate: 0.5, Burst: 1}},
		{name: "fraction", yaml: "    rate_limit: 2.5/s\n", want: gateway.RateLimit{Rate: 2.5, Burst: 3}},
		{name: "block", yaml: "    rate_limit: {rate: 200/s, burst: 50}\n", want: gateway.RateLimit{Rate: 200, Burst: 50}},
		{name: "block without burst", yaml: "    rate_limit:\n      rate: 100/s\n", want: gateway.RateLimit{Rate: 100, Burst: 100}},
		{name: "no unit", yaml: "    rate_limit: 20\n",
			wantErr: "config.yaml:9: subscribers.s.rate_limit: invalid rate \"20\" (want e.g. 200/s or 30/m)"},
		{name: "per hour", yaml: "    rate_limit: 20/h\n",
			wantErr: "config.yaml:9: subscribers.s.rate_limit: invalid rate"},
		{name: "zero", yaml: "    rate_limit: 0/s\n",
			wantErr: "config.yaml:9: subscribers.s.rate_limit: invalid rate"},
		{name: "too fast", yaml: "    rate_limit: 2000000/s\n",
			wantErr: "config.yaml:9: subscribers.s.rate_limit.rate: must be between"},
		{name: "unknown key", yaml: "    rate_limit: {rate: 1/s, brust: 5}\n",
			wantErr: "config.yaml:9: subscribers.s.rate_limit.brust: unknown key"},
		{name: "burst without rate", yaml: "    rate_limit: {burst: 5}\n",
			wantErr: "config.yaml:9: subscribers.s.rate_limit.burst: needs a rate"},
		{name: "negative burst", yaml: "    rate_limit: {rate: 1/s, burst: -1}\n",
			wantErr: "config.yaml:9: subscribers.s.rate_limit.burst: must be between 1 and"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse(t, withSub(tc.yaml), nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Subscribers["s"].RateLimit; got != tc.want {
				t.Errorf("RateLimit = %+v, want %+v", got, tc.want)
			}
		})
	}
}
