package main

import (
	"testing"

	"github.com/hookgate/hookgate/gateway/config"
	_ "github.com/hookgate/hookgate/plugins"
)

// The config hookbench writes must pass the gateway's own strict loader,
// or every bench run would die at startup.
func TestConfigLoadsInGateway(t *testing.T) {
	subs := []subscriber{
		{Name: "sink-1", URL: "http://127.0.0.1:40001/hook", Secret: randomWhsec()},
		{Name: "sink-2", URL: "http://127.0.0.1:40002/hook", Secret: randomWhsec()},
	}
	tests := []struct {
		name      string
		cfg       benchConfig
		wantRedis bool
	}{
		{"embedded", benchConfig{StorePath: "/tmp/hb/data"}, false},
		{"redis", benchConfig{RedisURL: "unix:///tmp/hb/redis.sock", MaxInFlight: 64}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			c.Listen, c.AdminListen, c.AdminToken = "127.0.0.1:40000", "127.0.0.1:40010", randomHex(16)
			c.IimmpactSecret, c.Catalog360Secret = randomHex(32), randomHex(32)
			c.Subscribers = subs
			got, err := config.Parse("config.yaml", c.yaml(), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatalf("gateway rejects the bench config: %v\n%s", err, c.yaml())
			}
			if got.Admin.Listen != c.AdminListen || got.Admin.Token.Reveal() != c.AdminToken {
				t.Errorf("admin %q with token %v, want %q and the token hookbench uses", got.Admin.Listen, got.Admin.Token.Reveal() == c.AdminToken, c.AdminListen)
			}
			if (got.Store.Redis != nil) != tt.wantRedis {
				t.Errorf("redis store %v, want %v", got.Store.Redis != nil, tt.wantRedis)
			}
			if len(got.Sources) != 2 || len(got.Subscribers) != 2 {
				t.Errorf("%d sources and %d subscribers, want 2 and 2", len(got.Sources), len(got.Subscribers))
			}
			if s := got.Subscribers["sink-2"]; s == nil || s.URL != subs[1].URL || len(s.SigningKeys) != 1 {
				t.Errorf("sink-2 = %+v, want its URL and one signing key", s)
			}
			if tt.cfg.MaxInFlight > 0 && got.Subscribers["sink-1"].MaxInFlight != tt.cfg.MaxInFlight {
				t.Errorf("max_in_flight %d, want %d", got.Subscribers["sink-1"].MaxInFlight, tt.cfg.MaxInFlight)
			}
		})
	}
}
