package gateway

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"sync"
	"time"
)

// KindHTTP is the default subscriber kind: each delivery is a signed POST
// to the subscriber's URL. Other kinds (subscribers.<name>.kind) are queue
// destinations registered with RegisterDestination.
const KindHTTP = "http"

// Message is one attempt's message to a queue destination: the envelope
// as sent (transform applied) and what an HTTP attempt would carry in its
// headers.
type Message struct {
	ID        string    // the envelope id (webhook-id; JetStream's Nats-Msg-Id)
	Subject   string    // the envelope subject, "" when it has none (Kafka's record key)
	Timestamp time.Time // the signing time (webhook-timestamp, unix seconds)
	Signature string    // webhook-signature: "v1,<base64>" per signing key, space-separated
	Body      []byte    // the envelope JSON
	// Headers are extra message headers, in order: the subscriber's
	// configured headers and the trace context, for destinations whose
	// messages carry headers (DestinationDriver.Headers).
	Headers []MessageHeader
}

// MessageHeader is one message header.
type MessageHeader struct{ Key, Value string }

// Destination sends messages to one subscriber's broker. It is opened per
// subscriber when the config is loaded, shared by that subscriber's
// concurrent attempts (Publish must be safe for concurrent use), and
// closed when the subscriber is removed or its destination settings
// change, after the attempts under way have returned.
//
// Opening must not wait for the broker: a destination connects (and
// reconnects after a failure) on its own, and Publish fails while it
// cannot reach the broker.
type Destination interface {
	// Publish sends m and returns nil only once the broker has
	// acknowledged it durably. Any error is retried under the
	// subscriber's retry policy and counts against its breaker; its text
	// is recorded as the attempt's error, so it must not contain a
	// credential. Publish returns when ctx ends (the attempt's timeout, or
	// a shutdown) with ctx's error, wrapped.
	Publish(ctx context.Context, m *Message) error
	// Close releases the connection. Publish is not called after it.
	Close() error
}

// DestinationDriver is one queue destination kind.
type DestinationDriver struct {
	// Schemes are the URL schemes the kind accepts (config validation).
	// "unix" takes a socket path in place of a host.
	Schemes []string
	// Topic says what topic names for this kind ("the stream key"), in
	// config errors.
	Topic string
	// Addrs: the kind takes more broker addresses in addrs.
	Addrs bool
	// Headers: messages carry headers, so the subscriber's headers are
	// sent as message headers; without, configuring headers is an error.
	Headers bool
	// Check, when set, refuses a broker URL of the right scheme that the
	// kind cannot use (config validation; the error must not quote it).
	Check func(u *url.URL) error
	// Open connects to the subscriber's broker (cfg.URL, cfg.Addrs) for
	// cfg.Topic. It must not block on the network.
	Open func(cfg *SubscriberConfig) (Destination, error)
}

var (
	destinationsMu sync.RWMutex
	destinations   = map[string]*DestinationDriver{}
)

// RegisterDestination makes a queue destination kind available under
// name, the value of subscribers.<name>.kind. It panics if name is taken,
// is "http", or d has no Open, as database/sql's Register does.
func RegisterDestination(name string, d *DestinationDriver) {
	destinationsMu.Lock()
	defer destinationsMu.Unlock()
	if d == nil || d.Open == nil {
		panic("gateway: RegisterDestination " + name + " without Open")
	}
	if _, dup := destinations[name]; dup || name == KindHTTP {
		panic("gateway: RegisterDestination called twice for " + name)
	}
	destinations[name] = d
}

// LookupDestination returns the driver registered under kind.
func LookupDestination(kind string) (*DestinationDriver, error) {
	destinationsMu.RLock()
	defer destinationsMu.RUnlock()
	d, ok := destinations[kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %q (known: %v)", kind, kindsLocked())
	}
	return d, nil
}

// DestinationKinds lists the subscriber kinds: http and the registered
// queue destinations, sorted.
func DestinationKinds() []string {
	destinationsMu.RLock()
	defer destinationsMu.RUnlock()
	return kindsLocked()
}

func kindsLocked() []string {
	names := []string{KindHTTP}
	for n := range destinations {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// IsQueue reports whether the subscriber is a queue destination (a kind
// other than http).
func (s *SubscriberConfig) IsQueue() bool { return s.Kind != "" && s.Kind != KindHTTP }
