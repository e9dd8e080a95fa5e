package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/internal/testredis"
)

// infoPanicHook panics on INFO, as a bug reading its reply would.
type infoPanicHook struct{ passHook }

func (infoPanicHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "info" {
			panic("INFO reply not understood")
		}
		return next(ctx, cmd)
	}
}

// TestInfoPanicKeepsReplicaWait: a panic while reading a master's replica
// count is a failed read: the last reading stands, so a master known to
// have a replica is still waited for.
func TestInfoPanicKeepsReplicaWait(t *testing.T) {
	srv := testredis.Start(t)
	opt, _ := redis.ParseURL(srv.URL())
	node := redis.NewClient(opt)
	node.AddHook(infoPanicHook{})
	defer node.Close()
	st := &replicaState{}
	st.r = replicaReading{n: 1, checked: time.Now().Add(-time.Minute), seen: time.Now()}
	if n, _ := st.r.need(time.Now(), replicaMemory); n != 1 {
		t.Fatalf("before: need %d", n)
	}
	func() {
		defer func() { recover() }() // Contain in runDurable
		st.refreshing = make(chan struct{})
		st.refresh(context.Background(), node, st.refreshing)
	}()
	if n, err := st.r.need(time.Now(), replicaMemory); n != 1 || err != nil {
		t.Errorf("after a panic in INFO: need %d, %v; want 1 (the master still has its replica); reading %+v", n, err, st.r)
	}
}
