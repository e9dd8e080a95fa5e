package gateway

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
)

// Panics in background loops. A store's writer, a dispatcher or a sweeper
// serves many callers for the life of the process: if one bad batch (a
// reply the code did not expect, a bug) panicked it, the process would
// die and every gateway sharing the store with it, on the same fault, and
// providers would meet a crash loop. So each unit of such a loop's work
// runs under Contain: the panic is logged with its stack and counted
// (hookgate_panics_total{component}), only the work in hand fails, as
// ErrUnavailable, so nothing unstored is acknowledged and a provider
// retries, and the loop goes on with its next unit. There is no blanket
// recover: Contain belongs where the work in hand is known and can be
// failed.

// ErrPanicked is what the work in hand fails with when Contain recovered a
// panic: it wraps ErrUnavailable (the HTTP layer answers 503).
var ErrPanicked = fmt.Errorf("%w: internal error (recovered panic)", ErrUnavailable)

// panicCounts maps a component name to its *atomic.Int64 count. The
// components that contain panics are listed here so that their series
// exist at 0 from the start: a counter that appears at 1 shows no
// increase to Prometheus.
var panicCounts sync.Map

func init() {
	for _, c := range []string{"http", "redisstore.put", "redisstore.record", "boltstore",
		"deliver.dispatcher", "deliver.send", "sweeper", "backfill", "reload"} {
		panicCounts.Store(c, new(atomic.Int64))
	}
}

// Contain recovers a panic of the goroutine's current unit of work. It
// must be deferred directly (defer gateway.Contain(...)), where recover
// can see the panic. On a panic it logs at error level with the stack,
// counts it under component, and calls fail (if not nil) with an error
// wrapping ErrPanicked, to answer the work in hand; then the deferring
// function returns normally.
func Contain(component string, fail func(error)) {
	r := recover()
	if r == nil {
		return
	}
	CountPanic(component)
	slog.Default().Error("recovered panic; the work in hand failed as unavailable and the loop goes on",
		"component", component, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	if fail != nil {
		fail(fmt.Errorf("%s: %w: %v", component, ErrPanicked, r))
	}
}

// CountPanic counts a panic under component: Contain's, and those a
// caller recovered and logged itself (the HTTP layer's handler guard).
func CountPanic(component string) {
	v, _ := panicCounts.LoadOrStore(component, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// PanicCount is one component's count of recovered panics.
type PanicCount struct {
	Component string
	Count     int64
}

// Panics returns the count of recovered panics per component since the
// process started, sorted by component.
func Panics() []PanicCount {
	var out []PanicCount
	panicCounts.Range(func(k, v any) bool {
		out = append(out, PanicCount{k.(string), v.(*atomic.Int64).Load()})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Component < out[j].Component })
	return out
}
