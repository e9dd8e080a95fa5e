package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/testredis"
)

// A gateway whose Redis user may not run INFO, on a master with a
// replica, cannot tell whether writes must wait for the replica. Under
// store.redis.min_replicas auto (the default) it refuses events (503, so
// the upstream retries) rather than acknowledge writes a failover could
// lose; its log and GET /admin/api/status say why and what to set. With
// min_replicas: 1 it takes events again, each confirmed by the replica.
func TestMinReplicasInfoRefused(t *testing.T) {
	t.Parallel()
	master, _ := testredis.StartReplicated(t)
	const user, password = "hg-noinfo", "pw-noinfo-e2e"
	if _, err := master.Proc().Do("ACL", "SETUSER", user, "on", ">"+password, "~*", "&*", "+@all", "-info"); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	u := url.URL{Scheme: "redis", User: url.UserPassword(user, password), Host: master.Addr(), Path: "/0"}
	redis := map[string]any{"url": u.String(), "prefix": fmt.Sprintf("e2e%d", prefixSeq.Add(1))}
	w := newWorld(t, backend{name: "redis-noinfo", store: func(t *testing.T) (map[string]any, *testredis.Server) {
		return map[string]any{"redis": redis}, master
	}})
	w.log = map[string]any{"format": "json"}
	r := newRecorder(t, "all", 1)
	w.subscribe("all", sub{rec: r})

	g := w.gateway()
	g.start() // ready: Redis answers, and the store's layout is readable
	for i := range 3 {
		code, msg, err := g.sendIimmpact(iimmpactSecret, product(fmt.Sprintf("NOINFO%d", i), i).body())
		if err != nil || code != http.StatusServiceUnavailable {
			t.Errorf("POST /webhooks/iimmpact with INFO refused under min_replicas auto: got %d %q (%v), want 503", code, msg, err)
		}
	}
	var st struct {
		Store struct {
			Warnings []string `json:"warnings"`
		} `json:"store"`
	}
	g.adminGet(t, "/admin/api/status", &st)
	if !containsWord(st.Store.Warnings, "store.redis.min_replicas") {
		t.Errorf("GET /admin/api/status store.warnings = %q, want one naming store.redis.min_replicas", st.Store.Warnings)
	}
	waitFor(t, 30*time.Second, "a log line naming store.redis.min_replicas", func() (bool, string) {
		return strings.Contains(g.output(), "store.redis.min_replicas"), "none yet"
	})
	if strings.Contains(g.output(), password) || strings.Contains(fmt.Sprint(st.Store.Warnings), master.Addr()) {
		t.Errorf("the log or the status shows the Redis password or address")
	}
	g.stop()

	redis["min_replicas"] = 1
	g = w.gateway()
	g.start()
	g.mustAccept(product("NOINFO-OK", 1))
	r.waitSubjects(t, []string{"product/NOINFO-OK"}, 30*time.Second)
}

func containsWord(list []string, word string) bool {
	for _, s := range list {
		if strings.Contains(s, word) {
			return true
		}
	}
	return false
}
