package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// TestSchema: the first Put marks the store with schemaVersion; a store
// left by layout 1 (its index keys, no marker) is used as it is, the old
// keys unread; a store marked with another layout refuses writes.
func TestSchema(t *testing.T) {
	tests := []struct {
		name    string
		before  map[string]string // string keys set first (suffix: value)
		oldIdx  bool              // leave layout 1 index keys behind
		wantErr bool
	}{
		{name: "new store"},
		{name: "layout 1 leftovers", oldIdx: true},
		{name: "marked 2", before: map[string]string{"schema": "2"}},
		{name: "other layout", before: map[string]string{"schema": "9"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, "schema")
			ctx := context.Background()
			for k, v := range tc.before {
				if err := s.rdb.Set(ctx, s.key(k), v, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			if tc.oldIdx {
				for _, k := range []string{"i:st:pending", "i:src:src1", "i:ss:sub-a:pending"} {
					if err := s.rdb.ZAdd(ctx, s.key(k), redis.Z{Score: 1, Member: "evt_stale"}).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}
			_, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_1")})
			if tc.wantErr {
				if !errors.Is(err, gateway.ErrUnavailable) || !strings.Contains(err.Error(), "layout") {
					t.Fatalf("Put = %v, want ErrUnavailable naming the layout", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if got, err := s.rdb.Get(ctx, s.key("schema")).Result(); err != nil || got != schemaVersion {
				t.Errorf("schema marker = %q, %v; want %q", got, err, schemaVersion)
			}
			page, err := s.List(ctx, gateway.EventFilter{Status: gateway.StatusPending})
			if err != nil || len(page.Events) != 1 || page.Events[0].ID != "evt_1" {
				t.Errorf("List(pending) = %+v, %v; want evt_1 alone", page.Events, err)
			}
		})
	}
}

// TestKeyLayout: storing, delivering and killing events writes only the
// keys the package doc lists, none of layout 1's indexes.
func TestKeyLayout(t *testing.T) {
	s := openTest(t, "layout")
	ctx := context.Background()
	evs := []gateway.NewEvent{testEvent("evt_1"), testEvent("evt_2"), testEvent("evt_3")}
	evs[2].Subscribers = nil
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
	now := testEvent("").ReceivedAt
	cs, err := s.Claim(ctx, "sub-a", now, 10, time.Minute)
	if err != nil || len(cs) != 2 {
		t.Fatalf("Claim = %d claims, %v; want 2", len(cs), err)
	}
	if err := s.Record(ctx, cs[0], gateway.Outcome{Status: gateway.StatusDelivered,
		Attempt: gateway.Attempt{At: now, StatusCode: 200}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, cs[1], gateway.Outcome{Status: gateway.StatusDead,
		Attempt: gateway.Attempt{At: now, StatusCode: 410, Error: "HTTP 410"}}); err != nil {
		t.Fatal(err)
	}
	keys, err := s.rdb.Keys(ctx, s.base+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	// A claim's re-run key (cl:<sub>:<token>) lives as long as its lease.
	for i, k := range keys {
		if strings.HasPrefix(k, s.key("cl", "sub-a")+":") {
			keys[i] = s.key("cl", "sub-a", "*")
		}
	}
	slices.Sort(keys)
	want := []string{"cl:sub-a:*", "e:evt_1", "e:evt_2", "e:evt_3", "i:all", "partitions", "r:sub", "s:sub-a", "schema", "x:sub-a"}
	for i := range want {
		want[i] = s.key(want[i])
	}
	if !slices.Equal(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
}

// TestSchemaRecountsRetrying: a layout 2 store kept no retrying counts;
// the first write of this layout counts them from the queues, once.
func TestSchemaRecountsRetrying(t *testing.T) {
	srv := testredis.Start(t)
	cfg := gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: "recount"}}
	s, err := open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := testEvent("").ReceivedAt
	var evs []gateway.NewEvent
	for i := range 2*recountBatch + 5 {
		e := testEvent(fmt.Sprintf("evt_%04d", i))
		e.Subscribers = []string{"sub-a"}
		evs = append(evs, e)
	}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatal(err)
	}
	// Every third one fails and waits for a retry.
	retrying := 0
	for {
		cs, err := s.Claim(ctx, "sub-a", now, 500, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			break
		}
		for i, c := range cs {
			o := gateway.Outcome{Status: gateway.StatusDelivered, Attempt: gateway.Attempt{At: now, StatusCode: 200}}
			if i%3 == 0 {
				o = gateway.Outcome{Status: gateway.StatusRetrying, NextAttemptAt: now.Add(time.Hour),
					Attempt: gateway.Attempt{At: now, StatusCode: 503}}
				retrying++
			}
			if err := s.Record(ctx, c, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st, err := s.Stats(ctx, "sub-a"); err != nil || st.Retrying != int64(retrying) {
		t.Fatalf("Stats = %+v, %v; want %d retrying", st, err, retrying)
	}
	// What layout 2 left: no count, its marker.
	if err := s.rdb.HDel(ctx, s.key("s", "sub-a"), "retrying").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.Set(ctx, s.key("schema"), "2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// A gateway of this layout, started after, migrates at its first write.
	s2, err := open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Put(ctx, []gateway.NewEvent{testEvent("evt_new")}); err != nil {
		t.Fatalf("Put after layout 2: %v", err)
	}
	if got, err := s2.rdb.Get(ctx, s2.key("schema")).Result(); err != nil || got != schemaVersion {
		t.Errorf("schema marker = %q, %v; want %q", got, err, schemaVersion)
	}
	if st, err := s2.Stats(ctx, "sub-a"); err != nil || st.Retrying != int64(retrying) {
		t.Errorf("Stats after the migration = %+v, %v; want %d retrying", st, err, retrying)
	}
}
