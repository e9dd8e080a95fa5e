package redisstore

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestNewClientKind(t *testing.T) {
	tests := []struct {
		url         string
		wantCluster bool
		want        string // the client's description, for the single-server kinds
	}{
		{url: "redis://127.0.0.1:6379/0", want: "Redis<127.0.0.1:6379 db:0>"},
		{url: "rediss://user:pw@cache.internal:6380/1", want: "Redis<cache.internal:6380 db:1>"},
		{url: "unix:///run/redis.sock?db=2", want: "Redis</run/redis.sock db:2>"},
		{url: "redis://user:pw@10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000", wantCluster: true},
		{url: "redis://10.0.0.1:26379?master_name=main&addr=10.0.0.2:26379", want: "Redis<FailoverClient db:0>"},
	}
	for _, tc := range tests {
		c, err := newClient(tc.url)
		if err != nil {
			t.Errorf("newClient(%s): %v", tc.url, err)
			continue
		}
		_, isCluster := c.(*redis.ClusterClient)
		if isCluster != tc.wantCluster {
			t.Errorf("newClient(%s) is %T, want cluster=%v", tc.url, c, tc.wantCluster)
		}
		if cl, ok := c.(*redis.Client); ok && cl.String() != tc.want {
			t.Errorf("newClient(%s) = %s, want %s", tc.url, cl.String(), tc.want)
		}
		c.Close()
	}
}

// TestNewClientRedactsURL: a malformed URL with a password must not echo it.
func TestNewClientRedactsURL(t *testing.T) {
	tests := []string{
		"redis://user:hunter2@host:port-not-a-number/0",
		"ftp://user:hunter2@host/0",
		"redis://user:hunter2@host:6379/notadb",
		"redis://user:hunter2@host:6379?addr=x:1&bogus=1",
		"redis://user:hunter2@host:6379?master_name=m&bogus=1",
		"redis://user:hunter2@ho st:6379",
	}
	for _, u := range tests {
		_, err := newClient(u)
		if err == nil {
			t.Errorf("newClient(bad URL) succeeded, want an error")
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("newClient error %q reveals the password", err)
		}
	}
}
