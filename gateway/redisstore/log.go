package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// go-redis writes its own messages (a failed dial, a pool in trouble) with
// the standard library's log package, straight to stderr: plain lines in
// what the operator asked to be JSON, one per failed dial while Redis is
// unreachable. clientLog sends them through slog's default logger instead,
// which `hookgate serve` makes its own, at most one a second with a count
// of those left out. The store's errors say the same through the
// gateway's own lines; these add the client's detail. go-redis's messages
// name addresses, never credentials.
func init() { redis.SetLogger(&clientLog{every: time.Second}) }

type clientLog struct {
	every time.Duration

	mu      sync.Mutex
	last    time.Time
	dropped int
}

func (l *clientLog) Printf(ctx context.Context, format string, v ...any) {
	now := time.Now()
	l.mu.Lock()
	if now.Sub(l.last) < l.every {
		l.dropped++
		l.mu.Unlock()
		return
	}
	dropped := l.dropped
	l.last, l.dropped = now, 0
	l.mu.Unlock()
	attrs := []any{"detail", fmt.Sprintf(format, v...)}
	if dropped > 0 {
		attrs = append(attrs, "not_logged", dropped)
	}
	slog.Default().Log(ctx, slog.LevelWarn, "redis client", attrs...)
}
