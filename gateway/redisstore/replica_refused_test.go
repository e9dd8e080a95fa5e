package redisstore

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/internal/testredis"
)

// replicaUser is the ACL user of the tests below: everything but INFO, as
// a least-privilege setup built from "+@all -@dangerous" leaves it.
const (
	replicaUser     = "hg-noinfo"
	replicaPassword = "pw-noinfo"
)

// openNoInfo starts a master with a replica, adds to the master a user
// that may not run INFO, and opens a store on the master as that user
// with min_replicas.
func openNoInfo(t *testing.T, min gateway.MinReplicas) (s *Store, master, replica *testredis.Server) {
	t.Helper()
	master, replica = testredis.StartReplicated(t)
	adminDo(t, master, "ACL", "SETUSER", replicaUser, "on", ">"+replicaPassword, "~*", "&*", "+@all", "-info")
	u := url.URL{Scheme: "redis", User: url.UserPassword(replicaUser, replicaPassword), Host: master.Addr()}
	cfg := gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(u.String()), Prefix: "noinfo", MinReplicas: min}}
	s, err := OpenWith(cfg, ReplicaWait(time.Second))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, master, replica
}

// adminDo runs a command on srv as its default user.
func adminDo(t *testing.T, srv *testredis.Server, args ...any) any {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	v, err := c.Do(context.Background(), args...).Result()
	if err != nil {
		t.Fatalf("%v on %s: %v", args, srv.Addr(), err)
	}
	return v
}

// infoRefusals is how many INFO calls srv has refused (ACL) since it
// started.
func infoRefusals(t *testing.T, srv *testredis.Server) int {
	t.Helper()
	stats := srv.Info("commandstats")
	for line := range strings.Lines(stats) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_info:")
		if !ok {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "rejected_calls="); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
	}
	return 0
}

// TestReplicaCountRefused: with min_replicas auto, a master that refuses
// INFO (a least-privilege user, a renamed command) cannot say whether it
// has replicas, so Put does not acknowledge: it fails with ErrUnavailable
// naming the fix, Health warns, and the refusal is remembered for a while
// rather than asked again on every batch. Before, Put took "no replicas"
// and answered success without WAIT.
func TestReplicaCountRefused(t *testing.T) {
	s, master, _ := openNoInfo(t, gateway.ReplicasAuto)
	ctx := context.Background()
	for i := range 3 {
		_, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_refused" + strconv.Itoa(i))})
		if !errors.Is(err, gateway.ErrUnavailable) {
			t.Fatalf("Put %d with INFO refused: got %v, want ErrUnavailable", i, err)
		}
		for _, want := range []string{"INFO", "store.redis.min_replicas"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Put %d: error %q does not name %q", i, err, want)
			}
		}
	}
	if n := infoRefusals(t, master); n != 1 {
		t.Errorf("master refused INFO %d times for 3 Puts, want 1 (the refusal remembered)", n)
	}
	h, err := s.Health(ctx)
	if err != nil {
		t.Fatalf("Health: %v", err)
	}
	if !hasWarning(h, "store.redis.min_replicas") {
		t.Errorf("Health warnings = %q, want one naming store.redis.min_replicas", h.Warnings)
	}

	// Granting INFO lifts it once the reading is due again.
	adminDo(t, master, "ACL", "SETUSER", replicaUser, "+info")
	s.recheckReplicas(master.Addr())
	if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_granted")}); err != nil {
		t.Errorf("Put once INFO is granted: %v", err)
	}
	if h, err := s.Health(ctx); err != nil || hasWarning(h, "store.redis.min_replicas") {
		t.Errorf("Health once INFO is granted = %q, %v; want no min_replicas warning", h.Warnings, err)
	}
}

// TestMinReplicasFixed: with min_replicas set, Put never asks INFO and
// waits for that many replicas: with the replica frozen (SIGSTOP) a write
// is not acknowledged. min_replicas 0 waits for none, and Health says that
// the master's replica is then not waited on.
func TestMinReplicasFixed(t *testing.T) {
	ctx := context.Background()
	t.Run("1", func(t *testing.T) {
		s, master, replica := openNoInfo(t, gateway.FixedReplicas(1))
		if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_f1")}); err != nil {
			t.Fatalf("Put with the replica up: %v", err)
		}
		replica.Pause()
		_, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_f2")})
		replica.Continue()
		if !errors.Is(err, gateway.ErrUnavailable) {
			t.Errorf("Put with the replica frozen: got %v, want ErrUnavailable", err)
		}
		if n := infoRefusals(t, master); n != 0 {
			t.Errorf("master refused INFO %d times, want 0: min_replicas 1 needs no INFO", n)
		}
	})
	t.Run("2 of 1", func(t *testing.T) {
		s, master, _ := openNoInfo(t, gateway.FixedReplicas(2))
		_, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_f3")})
		if !errors.Is(err, gateway.ErrUnavailable) || !strings.Contains(err.Error(), "1 of 2") {
			t.Errorf("Put wanting 2 replicas of 1: got %v, want ErrUnavailable saying 1 of 2 confirmed", err)
		}
		adminDo(t, master, "ACL", "SETUSER", replicaUser, "+info")
		h, err := s.Health(ctx)
		if err != nil || !hasWarning(h, "min_replicas is 2") {
			t.Errorf("Health = %q, %v; want a warning that min_replicas 2 exceeds the replicas connected", h.Warnings, err)
		}
	})
	t.Run("0", func(t *testing.T) {
		s, master, replica := openNoInfo(t, gateway.FixedReplicas(0))
		adminDo(t, master, "ACL", "SETUSER", replicaUser, "+info") // for Health to see the replica
		replica.Pause()
		defer replica.Continue()
		if _, err := s.Put(ctx, []gateway.NewEvent{testEvent("evt_f4")}); err != nil {
			t.Errorf("Put with min_replicas 0 and the replica frozen: %v", err)
		}
		h, err := s.Health(ctx)
		if err != nil || !hasWarning(h, "min_replicas is 0") {
			t.Errorf("Health = %q, %v; want a warning that min_replicas 0 leaves the replica unwaited", h.Warnings, err)
		}
	})
}

func hasWarning(h gateway.StoreHealth, word string) bool {
	for _, w := range h.Warnings {
		if strings.Contains(w, word) {
			return true
		}
	}
	return false
}

// TestReplicaReadingApply: what one INFO answer does to a master's
// reading. A refusal is a reading of an unknown count (writes refused,
// not asked again until it is due); a lost connection or a server busy
// keeps the last reading, due again at once; another master answering (a
// restart, a failover) goes on waiting for the replica seen before.
func TestReplicaReadingApply(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	later := t0.Add(time.Minute)
	withReplica := replicaReading{n: 1, checked: t0, seen: t0}
	info := func(runID string, replicas int) string {
		return "# Server\r\nrun_id:" + runID + "\r\n# Replication\r\nrole:master\r\nconnected_slaves:" + strconv.Itoa(replicas) +
			"\r\nmaster_replid2:0000000000000000000000000000000000000000\r\n"
	}
	promotedInfo := func(runID string) string {
		return "# Server\r\nrun_id:" + runID + "\r\n# Replication\r\nrole:master\r\nconnected_slaves:0" +
			"\r\nmaster_replid2:8d1c3e2a9b7f6e5d4c3b2a19f8e7d6c5b4a39281\r\n"
	}
	tests := []struct {
		name     string
		before   replicaReading
		info     string
		err      error
		want     replicaReading
		wantNeed int
		wantErr  bool
	}{
		{name: "first reading, a replica", info: info("A", 1),
			want: replicaReading{n: 1, checked: later, seen: later}, wantNeed: 1},
		{name: "first reading, none", info: info("A", 0),
			want: replicaReading{checked: later}},
		{name: "replica gone a moment ago", before: withReplica, info: info("A", 0),
			want: replicaReading{checked: later, seen: t0}, wantNeed: 1},
		// Another master: the old one restarted, or a replica promoted.
		// Until a replica has synced from it, what it takes alone exists
		// nowhere else, and Sentinel may still make another node master.
		{name: "restarted, replica away", before: withReplica, info: info("B", 0),
			want: replicaReading{checked: later, seen: t0}, wantNeed: 1},
		{name: "failover: a promoted replica without replicas", before: withReplica, info: promotedInfo("B"),
			want: replicaReading{checked: later, seen: t0}, wantNeed: 1},
		{name: "failover: a promoted replica, its replica synced", before: withReplica, info: info("B", 1),
			want: replicaReading{n: 1, checked: later, seen: later}, wantNeed: 1},
		{name: "failover: none seen for the memory", before: replicaReading{checked: t0, seen: later.Add(-replicaMemory)}, info: promotedInfo("B"),
			want: replicaReading{checked: later, seen: later.Add(-replicaMemory)}},
		{name: "refused", before: withReplica, err: replyError("NOPERM this user has no permissions to run the 'info' command"),
			want: replicaReading{n: 1, checked: later, seen: t0,
				refused: "NOPERM this user has no permissions to run the 'info' command"}, wantErr: true},
		{name: "renamed", err: replyError("ERR unknown command 'INFO', with args beginning with: "),
			want: replicaReading{checked: later, refused: "ERR unknown command 'INFO', with args beginning with: "}, wantErr: true},
		{name: "lost connection keeps the reading", before: withReplica, err: errors.New("read tcp: connection reset by peer"),
			want: withReplica, wantNeed: 1},
		{name: "busy keeps the reading", before: withReplica, err: replyError("BUSY Redis is busy running a script"),
			want: withReplica, wantNeed: 1},
		{name: "granted again", before: replicaReading{checked: t0, refused: "NOPERM"}, info: info("A", 0),
			want: replicaReading{checked: later}},
	}
	for _, tc := range tests {
		st := &replicaState{r: tc.before}
		st.apply(tc.info, tc.err, later)
		if st.r != tc.want {
			t.Errorf("%s: reading = %+v, want %+v", tc.name, st.r, tc.want)
		}
		need, err := st.r.need(later, replicaMemory)
		if need != tc.wantNeed || (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, errReplicasUnknown)) {
			t.Errorf("%s: need = %d, %v; want %d, error %v", tc.name, need, err, tc.wantNeed, tc.wantErr)
		}
	}
}

// replyError is an error reply of Redis's: it satisfies redis.Error.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}
