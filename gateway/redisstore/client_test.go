package redisstore

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

func TestNewClientKind(t *testing.T) {
	tests := []struct {
		cfg         gateway.RedisConfig
		wantCluster bool
		want        string // the client's description, for the single-server kinds
	}{
		{cfg: gateway.RedisConfig{URL: "redis://127.0.0.1:6379/0"}, want: "Redis<127.0.0.1:6379 db:0>"},
		{cfg: gateway.RedisConfig{URL: "rediss://user:pw@cache.internal:6380/1"}, want: "Redis<cache.internal:6380 db:1>"},
		{cfg: gateway.RedisConfig{URL: "unix:///run/redis.sock?db=2"}, want: "Redis</run/redis.sock db:2>"},
		{cfg: gateway.RedisConfig{URL: "redis://user:pw@10.0.0.1:7000", Addrs: []string{"10.0.0.2:7000", "10.0.0.3:7000"}}, wantCluster: true},
		{cfg: gateway.RedisConfig{URL: "redis://10.0.0.1:26379/0", Addrs: []string{"10.0.0.2:26379"}, MasterName: "main"}, want: "Redis<FailoverClient db:0>"},
		{cfg: gateway.RedisConfig{URL: "redis://10.0.0.1:26379", MasterName: "main"}, want: "Redis<FailoverClient db:0>"},
	}
	for _, tc := range tests {
		c, err := newClient(&tc.cfg)
		if err != nil {
			t.Errorf("newClient(%+v): %v", tc.cfg, err)
			continue
		}
		_, isCluster := c.(*redis.ClusterClient)
		if isCluster != tc.wantCluster {
			t.Errorf("newClient(%+v) is %T, want cluster=%v", tc.cfg, c, tc.wantCluster)
		}
		if cl, ok := c.(*redis.Client); ok && cl.String() != tc.want {
			t.Errorf("newClient(%+v) = %s, want %s", tc.cfg, cl.String(), tc.want)
		}
		c.Close()
	}
}

// TestNewClientRedactsURL: a malformed URL with a password must not echo
// it, nor may a cluster URL naming a database other than 0.
func TestNewClientRedactsURL(t *testing.T) {
	tests := []gateway.RedisConfig{
		{URL: "redis://user:hunter2@host:port-not-a-number/0"},
		{URL: "ftp://user:hunter2@host/0"},
		{URL: "redis://user:hunter2@host:6379/notadb"},
		{URL: "redis://user:hunter2@host:6379?addr=x:1"},
		{URL: "redis://user:hunter2@host:6379?master_name=m"},
		{URL: "redis://user:hunter2@ho st:6379"},
		{URL: "redis://user:hunter2@host:6379/3", Addrs: []string{"h2:6379"}},
	}
	for _, cfg := range tests {
		_, err := newClient(&cfg)
		if err == nil {
			t.Errorf("newClient(bad config) succeeded, want an error")
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("newClient error %q reveals the password", err)
		}
	}
}

// TestNewClientSpeaksRESP2: the store's connections use RESP2 (no push
// messages to peek for around every reply) unless the URL asks for 3.
func TestNewClientSpeaksRESP2(t *testing.T) {
	srv := testredis.Start(t)
	for _, tc := range []struct{ query, want string }{{"", "resp=2"}, {"?protocol=3", "resp=3"}} {
		c, err := newClient(&gateway.RedisConfig{URL: gateway.Secret(srv.URL() + tc.query)})
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.ClientInfo(context.Background()).Result()
		if err != nil {
			t.Fatalf("CLIENT INFO: %v", err)
		}
		if got := "resp=" + strconv.Itoa(info.Resp); got != tc.want {
			t.Errorf("URL%s: connection speaks %s, want %s", tc.query, got, tc.want)
		}
		c.Close()
	}
}
