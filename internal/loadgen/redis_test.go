package loadgen

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// StartRedis runs a real redis-server with appendfsync everysec unless
// AppendFsync names another policy, and the server runs with that policy.
func TestStartRedisAppendFsync(t *testing.T) {
	tests := []struct {
		name string
		opts []RedisOption
		want string
	}{
		{"default", nil, "everysec"},
		{"always", []RedisOption{AppendFsync("always")}, "always"},
		{"last option wins", []RedisOption{AppendFsync("always"), AppendFsync("no")}, "no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "lgredis") // short: the unix socket lives in it
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			srv, err := StartRedis(dir, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Stop)
			opt, err := redis.ParseURL(srv.URL())
			if err != nil {
				t.Fatal(err)
			}
			c := redis.NewClient(opt)
			defer c.Close()
			got, err := c.ConfigGet(context.Background(), "appendfsync").Result()
			if err != nil {
				t.Fatal(err)
			}
			if got["appendfsync"] != tt.want {
				t.Errorf("CONFIG GET appendfsync = %v, want %q", got, tt.want)
			}
			if aof, err := c.ConfigGet(context.Background(), "appendonly").Result(); err != nil || aof["appendonly"] != "yes" {
				t.Errorf("CONFIG GET appendonly = %v, %v; want yes", aof, err)
			}
		})
	}
}
