package deliver

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/boltstore"
	"github.com/hookgate/hookgate/gateway/redisstore"
	"github.com/hookgate/hookgate/internal/testredis"
)

// backend opens real stores of one kind for the engine tests.
type backend struct {
	name string
	// open returns a fresh, empty store, closed when the test ends.
	open func(t testing.TB) gateway.Store
	// shared returns two handles on one fresh store, as two gateway
	// processes sharing it would have.
	shared func(t testing.TB) (gateway.Store, gateway.Store)
}

var prefixes atomic.Int64

// openRedis opens the Redis store on the caller's clock: several engine
// tests freeze Options.Now so that a retry never comes due.
func openRedis(t testing.TB, srv *testredis.Server, prefix string) gateway.Store {
	t.Helper()
	s, err := redisstore.OpenCallerClock(gateway.StoreConfig{Redis: &gateway.RedisConfig{URL: gateway.Secret(srv.URL()), Prefix: prefix}})
	if err != nil {
		t.Fatalf("open redis store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// backends: Redis, each handle its own client as another process's would
// be; and the embedded store, where the engines of one process share the
// one open handle (the file is locked to one process).
var backends = []backend{
	{
		name: "redis",
		open: func(t testing.TB) gateway.Store {
			return openRedis(t, testredis.Start(t), "t")
		},
		shared: func(t testing.TB) (gateway.Store, gateway.Store) {
			srv := testredis.Start(t)
			prefix := fmt.Sprintf("s%d", prefixes.Add(1))
			return openRedis(t, srv, prefix), openRedis(t, srv, prefix)
		},
	},
	{
		name: "embedded",
		open: openBolt,
		shared: func(t testing.TB) (gateway.Store, gateway.Store) {
			s := openBolt(t)
			return s, s
		},
	},
}

func openBolt(t testing.TB) gateway.Store {
	t.Helper()
	s, err := boltstore.Open(gateway.StoreConfig{Path: t.TempDir()})
	if err != nil {
		t.Fatalf("open embedded store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestEngine runs every engine scenario against every real backend.
func TestEngine(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, bk backend)
	}{
		{"RetriedUntilDelivered", testRetriedUntilDelivered},
		{"RateLimited", testRateLimited},
		{"PermanentFailureIsDeadAtOnce", testPermanentFailureIsDeadAtOnce},
		{"GonePauses", testGonePauses},
		{"GonePauseFails", testGonePauseFails},
		{"DeadReasons", testDeadReasons},
		{"RedirectNotFollowed", testRedirectNotFollowed},
		{"RequestHeaders", testRequestHeaders},
		{"RetrySchedule", testRetrySchedule},
		{"MaxAgeEndsRetries", testMaxAgeEndsRetries},
		{"MaxInFlight", testMaxInFlight},
		{"Timeout", testTimeout},
		{"SubscriberDownAndBack", testSubscriberDownAndBack},
		{"OpenBreakerSpendsNoAttempts", testOpenBreakerSpendsNoAttempts},
		{"HalfOpenProbe", testHalfOpenProbe},
		{"StopLetsRequestsFinish", testStopLetsRequestsFinish},
		{"StopHandsBackHeldWork", testStopHandsBackHeldWork},
		{"TwoEngines", testTwoEngines},
		{"Update", testUpdate},
		{"Paused", testPaused},
		{"NotifyPaused", testNotifyPaused},
		{"UnrecordedCountInFlight", testUnrecordedCountInFlight},
		{"Transform", testTransform},
		{"TransformFails", testTransformFails},
		{"TransformUncompiled", testTransformUncompiled},
		{"OpDead", testOpDead},
		{"OpDeadReplyLost", testOpDeadReplyLost},
		{"OpGonePausedResumed", testOpGonePausedResumed},
		{"OpBreaker", testOpBreaker},
		{"OpNoLoop", testOpNoLoop},
		{"OpTwoEngines", testOpTwoEngines},
	}
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.fn(t, bk) })
			}
		})
	}
}
