package deliver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookgate/hookgate/gateway"
)

const (
	// maxDrain bounds how much of a response body is read (and thrown
	// away) so the connection can be reused; past it, closing is cheaper.
	maxDrain = 64 << 10
	// storeTimeout bounds Record and Release, which run after the request
	// and must not hang a shutdown on a dead store.
	storeTimeout = 5 * time.Second
)

// send makes one attempt at a claimed delivery and records it, or hands
// the claim back when the breaker or a shutdown prevents the attempt.
func (d *dispatcher) send(st *subState, c gateway.Claim) {
	// A panic is logged and counted, and the claim is left to its lease:
	// it comes due again when the lease ends (a release would make a
	// panic that repeats on this delivery spin).
	defer gateway.Contain("deliver.send", nil)
	e := d.e
	// The request slot (max_in_flight) is held while the request is under
	// way; then the attempt moves to the unrecorded count until the store
	// has taken its record. A finished attempt still holds a goroutine,
	// the body and a lease, so the dispatcher caps unrecorded attempts too
	// (Options.MaxUnrecorded): a slow store slows the claims down instead
	// of letting finished sends pile up, while a healthy one commits a
	// batch of records as the next requests go out.
	requestDone := false
	finishRequest := func() {
		if !requestDone {
			requestDone = true
			d.unrecorded.Add(1) // before the decrement: the sum never dips
			d.inflight.Add(-1)
			signal(d.freed)
		}
	}
	defer func() {
		finishRequest()
		d.unrecorded.Add(-1)
		signal(d.freed)
		e.sends.Done()
	}()

	body, err := st.body(c)
	if err != nil {
		// Nothing is sent, and the breaker is neither asked nor told:
		// the subscriber had no part in it. The delivery is dead
		// (Decide), the reason recorded as the attempt's error.
		finishRequest()
		d.record(st, c, transformFailure(e.opts.Now(), err), Result{Class: Transform}, nil)
		return
	}
	allowDone, err := st.breaker.Allow()
	if err != nil {
		// The breaker opened (or a probe is out) since the claim: hand it
		// back without an attempt, due when a probe may go.
		at := e.opts.Now()
		if errors.Is(err, gobreaker.ErrOpenState) {
			at = at.Add(st.cfg.Breaker.Cooldown)
		}
		d.release(c, at)
		return
	}
	// The breaker is told the outcome once: a panic before that tells it
	// the attempt was aborted, which frees a half-open probe's slot (left
	// taken, the breaker would refuse every later attempt).
	reported := false
	done := func(err error) {
		reported = true
		allowDone(err)
	}
	defer func() {
		if !reported {
			allowDone(errAborted)
		}
	}()

	span := d.startSpan(c)
	if span != nil {
		// Ended with its outcome below; this End, a no-op then, is for a
		// panic on the way.
		defer span.End()
	}
	var a gateway.Attempt
	var res Result
	if st.dest == nil {
		a, res, err = d.attempt(st, c, body, span)
	} else {
		a, res, err = d.publish(st, c, body, span)
	}
	if e.aborted(err) {
		done(errAborted)
		if span != nil {
			endAttemptSpan(span, a, "aborted")
		}
		d.release(c, e.opts.Now())
		return
	}
	if res.Class == Gone {
		// Before the slot is freed: the dispatcher claims no more for
		// this subscriber once it has been told.
		d.pauseGone(c)
	}
	done(verdict(res.Class))
	finishRequest()
	d.record(st, c, a, res, span)
}

// record decides the delivery's outcome from the attempt's result and
// records it, then counts and logs it; span, the attempt's (nil: none),
// ends with the outcome.
func (d *dispatcher) record(st *subState, c gateway.Claim, a gateway.Attempt, res Result, span trace.Span) {
	e := d.e
	now := e.opts.Now()
	o := Decide(st.cfg.Retry, e.opts.Backoff, c, res, now, e.opts.Rand())
	o.Attempt = a
	if span != nil {
		endAttemptSpan(span, a, string(o.Status))
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	err := e.store.Record(ctx, c, o)
	if o.Status == gateway.StatusDead && !errors.Is(err, gateway.ErrLeaseLost) {
		d.raiseDead(c, o, err == nil)
	}
	d.observe(c, o, e.opts.Now())
	d.logOutcome(c, o, err)
}

// pauseGone pauses the subscriber for every gateway sharing the store,
// reason gone, after a 410, before the attempt is recorded: the
// subscriber has said it is no more, and no new attempt should start.
// Attempts already under way finish (each 410 among them pauses again,
// which changes nothing). When the store fails, the pause is logged as not
// made; the next 410 tries again.
func (d *dispatcher) pauseGone(c gateway.Claim) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := d.e.store.SetPaused(ctx, d.name, gateway.PauseGone); err != nil {
		d.e.log.Error("subscriber answered 410 Gone but the pause was not stored; deliveries go on until the next 410 pauses it",
			"subscriber", d.name, "event", c.EventID, "err", err)
		return
	}
	d.e.NotifyPaused(d.name, true)
	d.e.raisePause(d.name, gateway.PauseGone)
	d.e.log.Warn("subscriber answered 410 Gone: paused in every gateway until resumed",
		"subscriber", d.name, "event", c.EventID, "paused_reason", string(gateway.PauseGone))
}

// logOutcome writes one line per attempt: delivered at debug, failed at
// info, dead at warn, each with the event, subscriber, attempt, status code
// and duration; never the body, a header or a secret. A delivered attempt
// costs nothing to log unless debug is on.
func (d *dispatcher) logOutcome(c gateway.Claim, o gateway.Outcome, err error) {
	log := d.e.log
	a, status := o.Attempt, o.Status
	level, msg := slog.LevelDebug, "delivered"
	switch {
	case errors.Is(err, gateway.ErrLeaseLost):
		level, msg = slog.LevelWarn, "lease lost before the attempt was recorded; another worker has the delivery"
	case err != nil:
		level, msg = slog.LevelError, "record attempt failed; the delivery comes due again when its lease expires"
	case status == gateway.StatusDead:
		level, msg = slog.LevelWarn, "delivery dead"
	case status == gateway.StatusRetrying:
		level, msg = slog.LevelInfo, "delivery failed, will retry"
	}
	ctx := context.Background()
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("subscriber", d.name), slog.String("event", c.EventID), slog.Int("attempt", c.Attempts+1),
		slog.String("status", string(status)), slog.Int("status_code", a.StatusCode),
		slog.Int64("duration_ms", a.Duration.Milliseconds()),
	}
	if a.Error != "" {
		attrs = append(attrs, slog.String("reason", a.Error))
	}
	if status == gateway.StatusRetrying && err == nil {
		attrs = append(attrs, slog.Time("next_attempt_at", o.NextAttemptAt))
	}
	if status == gateway.StatusDead {
		attrs = append(attrs, slog.String("dead_reason", string(o.DeadReason)))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	log.LogAttrs(ctx, level, msg, attrs...)
}

// attempt POSTs body, the envelope as st.body made it, once. err is the
// transport error, if any, returned so the caller can tell a shutdown
// abort from a failure. span is the attempt's span (nil: tracing off),
// whose context the traceparent header carries.
func (d *dispatcher) attempt(st *subState, c gateway.Claim, body []byte, span trace.Span) (gateway.Attempt, Result, error) {
	e, cfg := d.e, st.cfg
	ctx, cancel := context.WithTimeout(e.sendCtx, cfg.Timeout)
	defer cancel()

	ts := e.opts.Now()
	a := gateway.Attempt{At: ts}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(body))
	if err != nil {
		// Config validation should make this impossible; the error text
		// would contain the URL, so it is not recorded.
		a.Error = "invalid subscriber URL"
		return a, Result{Class: Retry}, nil
	}
	h := req.Header
	for k, v := range cfg.Headers {
		h.Set(k, v)
	}
	// Set after the configured headers: these are the protocol and win.
	h.Set("Content-Type", "application/cloudevents+json")
	h.Set("User-Agent", e.opts.UserAgent)
	h.Set(HeaderID, c.EventID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Sign(cfg.SigningKeys, c.EventID, ts, body))
	setTraceHeaders(h, c.Body, span)

	start := time.Now() // a measurement, not a decision: the real clock
	resp, err := st.client.Do(req)
	var res Result
	if err == nil {
		res.StatusCode = resp.StatusCode
	}
	res.Class = e.opts.Classify(res.StatusCode, err)
	if err == nil {
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			res.RetryAfter, res.HasRetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), e.opts.Now())
		}
		if res.Class != Delivered {
			// Why it failed, in the subscriber's words: the excerpt is
			// bounded, the rest is drained below like any body.
			a.Response = readExcerpt(resp.Body, resp.Header.Get("Content-Type"), st.excerptSecrets())
		}
		// Errors draining are ignored: the status is the answer, and a
		// connection that fails here is simply not reused.
		io.CopyN(io.Discard, resp.Body, maxDrain)
		resp.Body.Close()
	}
	a.Duration = time.Since(start)
	a.StatusCode = res.StatusCode
	if res.Class != Delivered {
		a.Error = Reason(res.StatusCode, err, cfg.Timeout)
	}
	return a, res, err
}

// release hands a claim back without an attempt. A lost lease means
// another worker has it already, which is just as good.
func (d *dispatcher) release(c gateway.Claim, at time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	err := d.e.store.Release(ctx, c, at)
	if err != nil && !errors.Is(err, gateway.ErrLeaseLost) {
		d.e.unreleased.Add(1)
		d.e.log.Error("release failed; the delivery comes due again when its lease expires",
			"subscriber", d.name, "event", c.EventID, "err", err)
	}
}
