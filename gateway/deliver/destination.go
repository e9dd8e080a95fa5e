package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hookgate/hookgate/gateway"
)

// destRef is a queue subscriber's open destination, shared by the
// subStates that agree on its settings (sameDestination) and by their
// attempts under way. retire closes it once the last attempt using it has
// returned, so that a reload or a removal never cuts a publish short.
type destRef struct {
	dest    gateway.Destination
	driver  *gateway.DestinationDriver
	openErr error // the driver's Open failed: every attempt fails with it

	mu      sync.Mutex
	users   int
	retired bool
	closed  bool
}

// openDestination opens cfg's destination. A failure is kept and reported
// by every attempt (retried, counted by the breaker), as an unreachable
// HTTP subscriber would be: config validation has checked what it can.
func openDestination(cfg *gateway.SubscriberConfig) *destRef {
	r := &destRef{}
	r.driver, r.openErr = gateway.LookupDestination(cfg.Kind)
	if r.openErr == nil {
		r.dest, r.openErr = r.driver.Open(cfg)
	}
	return r
}

// sameDestination reports whether a and b publish to the same place over
// the same connection settings, so that a reload keeps the connection.
func sameDestination(a, b *gateway.SubscriberConfig) bool {
	return a.Kind == b.Kind && a.URL == b.URL && slices.Equal(a.Addrs, b.Addrs) &&
		a.Topic == b.Topic && a.MaxInFlight == b.MaxInFlight && a.Timeout == b.Timeout
}

// sameTarget reports whether a and b deliver to the same place beyond
// their URL (kind, addrs, topic), so that a reload keeps the breaker: a
// new target starts with a closed one, as a new URL does.
func sameTarget(a, b *gateway.SubscriberConfig) bool {
	return a.Kind == b.Kind && a.Topic == b.Topic && slices.Equal(a.Addrs, b.Addrs)
}

// acquire takes a use of the destination; false once it is retired.
func (r *destRef) acquire() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.retired {
		return false
	}
	r.users++
	return true
}

func (r *destRef) release() {
	r.mu.Lock()
	r.users--
	last := r.retired && r.users == 0
	r.mu.Unlock()
	if last {
		r.close()
	}
}

// publish sends m through an acquired destination and releases it, also
// when Publish panics (send contains the panic).
func (r *destRef) publish(ctx context.Context, m *gateway.Message) error {
	defer r.release()
	if r.openErr != nil {
		return r.openErr
	}
	return r.dest.Publish(ctx, m)
}

// retire closes the destination now, or when its last use returns.
func (r *destRef) retire() {
	r.mu.Lock()
	r.retired = true
	idle := r.users == 0
	r.mu.Unlock()
	if idle {
		r.close()
	}
}

func (r *destRef) close() {
	r.mu.Lock()
	done := r.closed
	r.closed = true
	r.mu.Unlock()
	if !done && r.dest != nil {
		r.dest.Close()
	}
}

// errRetired: the subscriber stopped being a queue destination between
// its claim and the attempt.
var errRetired = errors.New("destination closed by a config change")

// publish is attempt for a queue destination: the envelope, signed as
// for HTTP, published once and delivered when the broker acknowledges it
// durably. Every failure is Retry (see docs/delivery.md, "Queue
// destinations"): a broker that refuses the message for a reason an
// operator must fix (a stream key of another type, no JetStream stream on
// the subject) holds the deliveries back under the breaker rather than
// making them dead.
func (d *dispatcher) publish(st *subState, c gateway.Claim, body []byte, span trace.Span) (gateway.Attempt, Result, error) {
	e, cfg, r := d.e, st.cfg, st.dest
	ctx, cancel := context.WithTimeout(e.sendCtx, cfg.Timeout)
	defer cancel()

	ts := e.opts.Now()
	a := gateway.Attempt{At: ts}
	m := &gateway.Message{
		ID: c.EventID, Subject: envelopeSubject(c.Body), Timestamp: ts, Body: body,
		Signature: Sign(cfg.SigningKeys, c.EventID, ts, body),
	}
	if r.driver != nil && r.driver.Headers {
		m.Headers = messageHeaders(cfg.Headers, c.Body, span)
	}
	start := time.Now() // a measurement, not a decision: the real clock
	if !r.acquire() {
		// A reload replaced the destination between the claim and now:
		// publish through the current one (the message is signed and
		// built as this claim's settings say).
		r = d.state.Load().dest
		if r != nil && !r.acquire() {
			r = nil
		}
	}
	err := errRetired
	if r != nil {
		err = r.publish(ctx, m)
	}
	a.Duration = time.Since(start)
	if err == nil {
		return a, Result{Class: Delivered}, nil
	}
	a.Error = scrub(Reason(0, err, cfg.Timeout), st.secrets)
	return a, Result{Class: Retry}, err
}

// envelopeSubject is the stored envelope's subject, "" without one.
func envelopeSubject(body []byte) string {
	var env struct {
		Subject string `json:"subject"`
	}
	json.Unmarshal(body, &env) // a stored envelope is valid JSON; else ""
	return env.Subject
}

// messageHeaders are the subscriber's configured headers, sorted by name,
// then the trace context of the attempt.
func messageHeaders(cfg map[string]string, stored []byte, span trace.Span) []gateway.MessageHeader {
	out := make([]gateway.MessageHeader, 0, len(cfg)+2)
	for _, k := range sortedNames(cfg) {
		out = append(out, gateway.MessageHeader{Key: k, Value: cfg[k]})
	}
	h := http.Header{}
	setTraceHeaders(h, stored, span)
	for _, k := range []string{gateway.HeaderTraceParent, gateway.HeaderTraceState} {
		if v := h.Get(k); v != "" {
			out = append(out, gateway.MessageHeader{Key: strings.ToLower(k), Value: v})
		}
	}
	return out
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// scrub replaces every secret of the subscriber (its broker URL's
// password among them) in a recorded reason: a broker client's error may
// quote its address.
func scrub(reason string, secrets [][]byte) string {
	b := []byte(reason)
	for _, s := range secrets {
		b = bytes.ReplaceAll(b, s, []byte("[redacted]"))
	}
	return string(b)
}
