package deliver

import (
	"log/slog"
	"time"
)

// maxErrorWait caps the wait between store calls while the store fails
// (and between restarts of a dispatcher that panicked): short enough that
// delivery resumes within about a second of the store (or a failover)
// coming back, long enough that a store that is down costs it little.
const maxErrorWait = time.Second

// maxTokenWait caps a dispatcher's wait for its rate limit's next token:
// a slow rate's wait is cut into steps, so that a reload or a resume is
// seen within one.
const maxTokenWait = 5 * time.Second

// faultLogEvery paces a dispatcher's log lines while the store fails: the
// first failure is logged at once, then one line per interval with the
// count of those left out, so that a long outage does not flood the log.
const faultLogEvery = 10 * time.Second

// storeFault is one dispatcher's view of a run of failed store calls
// (claims, paused-flag reads): how long to wait before the next call, and
// when to log. Read and written by the dispatcher's run goroutine only.
type storeFault struct {
	since   time.Time     // the first failure of the run; zero while the store answers
	wait    time.Duration // before the next call
	logged  time.Time     // the last line logged
	dropped int           // failures not logged since then
}

// failed notes a failed call and returns how long to wait before the next
// one: poll after the first failure, doubling up to maxErrorWait.
func (f *storeFault) failed(log *slog.Logger, sub, what string, err error, now time.Time, poll time.Duration) time.Duration {
	if f.since.IsZero() {
		f.since, f.wait = now, poll
	} else {
		f.wait = min(f.wait*2, maxErrorWait)
	}
	if now.Sub(f.logged) < faultLogEvery {
		f.dropped++
		return f.wait
	}
	log.Error(what+" failed; retrying while the store fails", "subscriber", sub, "err", err,
		"failing_for", now.Sub(f.since).Round(time.Millisecond).String(), "not_logged", f.dropped)
	f.logged, f.dropped = now, 0
	return f.wait
}

// ok notes a call that succeeded, ending a run of failures (logged once).
// The pace of failure lines carries over, so that a store that flaps
// still logs one failure per faultLogEvery.
func (f *storeFault) ok(log *slog.Logger, sub string, now time.Time) {
	if f.since.IsZero() {
		return
	}
	log.Info("store answers again", "subscriber", sub,
		"failed_for", now.Sub(f.since).Round(time.Millisecond).String(), "not_logged", f.dropped)
	*f = storeFault{logged: f.logged}
}
