package redisstore

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// TestHealthWarnings: Health warns about each setting under which Redis
// may lose accepted events, and about settings it was refused to read,
// without naming the address or the password. testredis starts Redis as
// hookgate wants it (AOF on, noeviction); each case changes it.
func TestHealthWarnings(t *testing.T) {
	const password = "pw-hunter2"
	tests := []struct {
		name  string
		setup []string // commands run as the default user on a fresh server
		user  string   // the ACL user the store connects as; "" for the default
		min   gateway.MinReplicas
		want  []string // one wanted warning per entry, by a word it holds
	}{
		{name: "as hookgate wants it"},
		{name: "evicting", setup: []string{"CONFIG SET maxmemory-policy allkeys-lru"},
			want: []string{"allkeys-lru"}},
		{name: "AOF off", setup: []string{"CONFIG SET appendonly no"},
			want: []string{"AOF off"}},
		{name: "both", setup: []string{"CONFIG SET appendonly no", "CONFIG SET maxmemory-policy volatile-ttl"},
			want: []string{"volatile-ttl", "AOF off"}},
		// The settings are read from INFO alone: CONFIG, which would also
		// show passwords, is not needed.
		{name: "CONFIG forbidden", setup: []string{"ACL SETUSER hg on >" + password + " ~* &* +@all -config"},
			user: "hg"},
		{name: "CONFIG forbidden, evicting", setup: []string{"CONFIG SET maxmemory-policy allkeys-lru",
			"ACL SETUSER hg on >" + password + " ~* &* +@all -config"},
			user: "hg", want: []string{"allkeys-lru"}},
		{name: "INFO forbidden", setup: []string{"ACL SETUSER hg on >" + password + " ~* &* +@all -config -info"},
			user: "hg", want: []string{"refused INFO", "store.redis.min_replicas"}},
		{name: "INFO forbidden, min_replicas set", setup: []string{"ACL SETUSER hg on >" + password + " ~* &* +@all -config -info"},
			user: "hg", min: gateway.FixedReplicas(0), want: []string{"refused INFO"}},
		{name: "min_replicas 1, no replica", min: gateway.FixedReplicas(1),
			want: []string{"min_replicas is 1 but the Redis master has 0 replicas"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := testredis.Start(t)
			ctx := context.Background()
			admin := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket()})
			defer admin.Close()
			for _, cmd := range tc.setup {
				args := []any{}
				for _, a := range strings.Fields(cmd) {
					args = append(args, a)
				}
				if err := admin.Do(ctx, args...).Err(); err != nil {
					t.Fatalf("%s: %v", cmd, err)
				}
			}
			u := srv.URL()
			if tc.user != "" {
				u = (&url.URL{Scheme: "unix", User: url.UserPassword(tc.user, password), Path: srv.Socket()}).String()
			}
			s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(u), Prefix: "health", MinReplicas: tc.min}})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer s.Close()
			if err := s.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err) // the store works as that user
			}
			h, err := s.Health(ctx)
			if err != nil {
				t.Fatalf("Health: %v", err)
			}
			t.Logf("warnings: %q", h.Warnings)
			if len(h.Warnings) != len(tc.want) {
				t.Errorf("Health warnings = %q, want %d of them, holding %q", h.Warnings, len(tc.want), tc.want)
			}
			for i, w := range h.Warnings {
				if i < len(tc.want) && !strings.Contains(w, tc.want[i]) {
					t.Errorf("warning %d = %q, want it to name %q", i, w, tc.want[i])
				}
				for _, secret := range []string{password, srv.Socket(), "hgredis"} {
					if strings.Contains(w, secret) {
						t.Errorf("warning %q reveals %q", w, secret)
					}
				}
			}
		})
	}
}

// TestOrphans: a queue entry whose event was deleted behind the store's
// back is dropped by Claim, never delivered, and counted once in Health.
func TestOrphans(t *testing.T) {
	s := openTest(t, "orphans")
	ctx := context.Background()
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_gone"), testEvent("evt_here")}); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.Del(ctx, s.key("e", "evt_gone")).Err(); err != nil {
		t.Fatal(err)
	}
	now := testEvent("").ReceivedAt.Add(time.Second)
	for _, step := range []struct {
		name    string
		want    []string
		orphans int64
	}{
		{"first claim", []string{"evt_here"}, 1},
		{"second claim", nil, 1},
	} {
		cs, err := s.Claim(ctx, "sub-a", now, 10, time.Minute)
		if err != nil {
			t.Fatalf("%s: Claim: %v", step.name, err)
		}
		var got []string
		for _, c := range cs {
			got = append(got, c.EventID)
		}
		if strings.Join(got, ",") != strings.Join(step.want, ",") {
			t.Errorf("%s: claimed %v, want %v", step.name, got, step.want)
		}
		h, err := s.Health(ctx)
		if err != nil || h.Orphans != step.orphans {
			t.Errorf("%s: Health = %+v, %v; want %d orphans", step.name, h, err, step.orphans)
		}
	}
	st, err := s.Stats(ctx, "sub-a")
	if err != nil || st.Pending != 1 {
		t.Errorf("Stats = %+v, %v; want 1 pending (the leased one), the orphan gone", st, err)
	}
	page, err := s.List(ctx, gateway.EventFilter{Subscriber: "sub-a"})
	if err != nil || len(page.Events) != 1 || page.Events[0].ID != "evt_here" {
		t.Errorf("List(sub-a) = %+v, %v; want evt_here alone", page.Events, err)
	}
}
