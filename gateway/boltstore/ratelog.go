package boltstore

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// logEvery is how often one kind of the store's own log lines is written
// at most: a disk that stays full fails a commit every backoff, and a
// damaged file may fail every read, but the log gets one line per kind
// in that time, with a count of those left out.
const logEvery = 10 * time.Second

// rateLog writes the store's log lines through slog's default logger
// (which `hookgate serve` makes its own), at most one per kind per every.
type rateLog struct {
	every time.Duration

	mu      sync.Mutex
	last    map[string]time.Time
	dropped map[string]int
}

func newRateLog(every time.Duration) *rateLog {
	return &rateLog{every: every, last: map[string]time.Time{}, dropped: map[string]int{}}
}

// log writes the line unless one of its kind was written less than every
// ago; then it is counted, and the next line of the kind says how many
// were left out (not_logged).
func (l *rateLog) log(kind string, level slog.Level, msg string, attrs ...any) {
	now := time.Now()
	l.mu.Lock()
	if last, ok := l.last[kind]; ok && now.Sub(last) < l.every {
		l.dropped[kind]++
		l.mu.Unlock()
		return
	}
	dropped := l.dropped[kind]
	l.last[kind], l.dropped[kind] = now, 0
	l.mu.Unlock()
	if dropped > 0 {
		attrs = append(attrs, "not_logged", dropped)
	}
	slog.Default().Log(context.Background(), level, msg, attrs...)
}

// flush forgets when the kind's last line was written, so that the next
// is written at once (a failure that comes back after a recovery is
// news), with the count of those left out before.
func (l *rateLog) flush(kind string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.last, kind)
}

// panicked logs a recovered panic at error, with the stack of the
// goroutine that panicked; it is called from the deferred function that
// recovered it, where that stack is still whole.
func (l *rateLog) panicked(component string, p any) {
	l.log("panic", slog.LevelError, "panic recovered; the work in hand failed as unavailable",
		"component", component, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
}
