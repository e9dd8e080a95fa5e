package redisstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/storetest"
	"github.com/hookgate/hookgate/internal/testredis"
)

// docs/redis.md's "Least privilege on Redis" gives the one ACL line that
// hookgate's Redis user needs, for the prefix "hookgate". The tests below
// run that very line, read from the page, so that the two cannot drift:
// a command the store starts sending without the page granting it fails
// them.

const aclPassword = "pw-acl-test"

// aclPage is the page that gives the ACL line, from the repository root.
const aclPage = "docs/redis.md"

// docsACL returns docs/redis.md's ACL SETUSER line. It must be the only
// such line in the README and docs/, so that no page gives another.
func docsACL(t *testing.T) string {
	t.Helper()
	pages := []string{"README.md"}
	err := filepath.WalkDir("../../docs", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			pages = append(pages, strings.TrimPrefix(filepath.ToSlash(path), "../../"))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var found, where []string
	for _, page := range pages {
		data, err := os.ReadFile("../../" + page)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(data)) {
			if strings.HasPrefix(line, "ACL SETUSER hookgate ") {
				found = append(found, strings.TrimSpace(line))
				where = append(where, page)
			}
		}
	}
	if len(found) != 1 || where[0] != aclPage {
		t.Fatalf("README.md and docs/ have %d lines starting \"ACL SETUSER hookgate \" (in %q), want 1, in %s: %q", len(found), where, aclPage, found)
	}
	return found[0]
}

// aclFor is the documented line for the user named user, the store prefix
// prefix and the test's password, as arguments of one command.
func aclFor(t *testing.T, user, prefix string) []any {
	t.Helper()
	line := docsACL(t)
	for _, want := range []string{" >PASSWORD ", " ~{hookgate}* ", " ~{hookgate:* "} {
		if !strings.Contains(line, want) {
			t.Fatalf("docs/redis.md's ACL line %q lacks %q", line, strings.TrimSpace(want))
		}
	}
	line = strings.NewReplacer(">PASSWORD", ">"+aclPassword, "{hookgate", "{"+prefix).Replace(line)
	var args []any
	for i, f := range strings.Fields(line) {
		if i == 2 {
			f = user
		}
		args = append(args, f)
	}
	return args
}

// aclUser creates, on each server at addrs, the documented user for prefix,
// and returns its name.
func aclUser(t *testing.T, prefix string, addrs ...string) string {
	t.Helper()
	user := "hookgate-" + prefix
	for _, addr := range addrs {
		c := adminClient(addr)
		err := c.Do(context.Background(), aclFor(t, user, prefix)...).Err()
		c.Close()
		if err != nil {
			t.Fatalf("docs/redis.md's ACL SETUSER on %s: %v", addr, err)
		}
	}
	return user
}

// adminClient connects to a server (host:port, or a unix socket path) as
// its default user.
func adminClient(addr string) *redis.Client {
	if strings.HasPrefix(addr, "/") {
		return redis.NewClient(&redis.Options{Network: "unix", Addr: addr})
	}
	return redis.NewClient(&redis.Options{Addr: addr})
}

// checkACLLog fails the test for every command or key the servers refused
// (ACL LOG), and clears the log.
func checkACLLog(t *testing.T, addrs ...string) {
	t.Helper()
	ctx := context.Background()
	for _, addr := range addrs {
		c := adminClient(addr)
		entries, err := c.ACLLog(ctx, 100).Result()
		if err == nil {
			err = c.ACLLogReset(ctx).Err()
		}
		c.Close()
		if err != nil {
			t.Fatalf("ACL LOG on %s: %v", addr, err)
		}
		for _, e := range entries {
			t.Errorf("Redis refused user %s %s %q (%s, %d times): the documented ACL line lacks it",
				e.Username, e.Reason, e.Object, e.Context, e.Count)
		}
	}
}

// userURL is a redis:// (or unix://) URL for addr as user.
func userURL(user, addr string) string {
	if strings.HasPrefix(addr, "/") {
		return (&url.URL{Scheme: "unix", User: url.UserPassword(user, aclPassword), Path: addr}).String()
	}
	return (&url.URL{Scheme: "redis", User: url.UserPassword(user, aclPassword), Host: addr}).String()
}

// TestACLStore runs the store suite on one server as the documented user,
// each subtest with its own prefix and a user of the documented line for it,
// then uses the server's clock and Health as that user. Redis must have
// refused nothing, and Health must have been able to check everything.
func TestACLStore(t *testing.T) {
	srv := testredis.Start(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T, cfg gateway.StoreConfig) gateway.Store {
		prefix := fmt.Sprintf("t%d", n.Add(1))
		cfg.Redis = &gateway.RedisConfig{URL: gateway.Secret(userURL(aclUser(t, prefix, srv.Socket()), srv.Socket())), Prefix: prefix}
		s, err := open(cfg, CallerClock())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
	checkACLLog(t, srv.Socket())

	// Redis's clock (TIME in the scripts) and the setup checks.
	s, err := open(gateway.StoreConfig{Redis: &gateway.RedisConfig{
		URL: gateway.Secret(userURL(aclUser(t, "clock", srv.Socket()), srv.Socket())), Prefix: "clock"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	useStore(t, s)
	h, err := s.Health(context.Background())
	if err != nil || len(h.Warnings) != 0 {
		t.Errorf("Health as the documented user = %q, %v; want no warnings", h.Warnings, err)
	}
	checkACLLog(t, srv.Socket())
}

// useStore puts, claims and records one event on Redis's clock.
func useStore(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ev := testEvent("evt_acl")
	ev.ReceivedAt = time.Now()
	if _, err := s.Put(ctx, []gateway.NewEvent{ev}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	cs, err := s.Claim(ctx, "sub-a", time.Now(), 10, time.Minute)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Claim = %d claims, %v; want 1", len(cs), err)
	}
	if err := s.Record(ctx, cs[0], gateway.Outcome{Attempt: gateway.Attempt{At: time.Now(), StatusCode: 200}, Status: gateway.StatusDelivered}); err != nil {
		t.Fatalf("Record: %v", err)
	}
}

// TestACLReplicated: as the documented user, on a master with a replica and
// min_replicas auto, Put reads the replica count and waits for the
// replica's confirmation: with the replica frozen, nothing is acknowledged.
func TestACLReplicated(t *testing.T) {
	master, replica := testredis.StartReplicated(t)
	user := aclUser(t, "repl", master.Addr())
	s, err := OpenWith(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(userURL(user, master.Addr())), Prefix: "repl"}},
		ReplicaWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	useStore(t, s)
	replica.Pause()
	_, err = s.Put(context.Background(), []gateway.NewEvent{testEvent("evt_unconfirmed")})
	replica.Continue()
	if !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("Put with the replica frozen: got %v, want ErrUnavailable", err)
	}
	checkACLLog(t, master.Addr())
}

// TestACLCluster runs the store suite on a Redis Cluster as the documented
// user, created on every node: the slot map, partitions spread over the
// masters, MOVED and script loading on each master.
func TestACLCluster(t *testing.T) {
	c := testredis.StartCluster(t)
	runConformance(t, func(prefix string) *gateway.RedisConfig {
		cfg := clusterConfig(c, prefix)
		cfg.URL = gateway.Secret(userURL(aclUser(t, prefix, c.Addrs()...), c.Addrs()[0]))
		return cfg
	})
	checkACLLog(t, c.Addrs()...)
}

// TestACLCoversScripts: every command the Lua scripts call is granted by
// the documented line; Redis checks those against the user's ACL as it does
// the commands a client sends, so a script calling one more fails in
// production with NOPERM.
func TestACLCoversScripts(t *testing.T) {
	granted := map[string]bool{}
	for _, f := range strings.Fields(docsACL(t)) {
		if cmd, ok := strings.CutPrefix(f, "+"); ok {
			granted[strings.ToLower(cmd)] = true
		}
	}
	entries, err := luaFS.ReadDir("lua")
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`redis\.p?call\(\s*['"]([A-Za-z]+)['"]`)
	anyCall := regexp.MustCompile(`redis\.p?call\(`)
	missing := map[string][]string{} // command -> the scripts calling it
	for _, e := range entries {
		src, err := luaFS.ReadFile("lua/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if a, b := len(anyCall.FindAll(src, -1)), len(call.FindAll(src, -1)); a != b {
			t.Errorf("lua/%s: %d of its %d redis.call sites do not name the command as a string literal; "+
				"this test cannot check them", e.Name(), a-b, a)
		}
		for _, m := range call.FindAllSubmatch(src, -1) {
			if cmd := strings.ToLower(string(m[1])); !granted[cmd] && !slices.Contains(missing[cmd], e.Name()) {
				missing[cmd] = append(missing[cmd], e.Name())
			}
		}
	}
	for _, cmd := range slices.Sorted(maps.Keys(missing)) {
		t.Errorf("the documented ACL line does not grant %s, which %s call", cmd, strings.Join(missing[cmd], ", "))
	}
}
