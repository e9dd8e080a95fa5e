package gateway

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Header gives a request header's value by canonical or any-case name, ""
// when absent. http.Header satisfies it. Values may only be valid for the
// duration of the Provider call they are passed to.
type Header interface {
	Get(name string) string
}

// Request is one upstream webhook request, as routes/ hands it to a Provider.
type Request struct {
	Header     Header
	Body       []byte // the raw body, exactly as received
	ReceivedAt time.Time
	// Trace is the W3C trace context every event of the request carries
	// (Envelope.SetTrace): the ingest span's when tracing is on, else the
	// provider's own traceparent (TraceFromHeader); invalid: none.
	Trace trace.SpanContext
}

// Batch is what a Provider makes of one authentic request.
type Batch struct {
	// Events in the order the request carried them; may be empty.
	Events []Event
	// Test is set when the request is the provider's registration test
	// (catalog360's empty batch signed with "test-webhook"): it is answered
	// 200 and nothing is stored or fanned out.
	Test bool
}

// Provider decodes one upstream's webhooks. Implementations live in
// plugins/<name> and register themselves with RegisterProvider in init.
//
// Providers are stateless and safe for concurrent use.
type Provider interface {
	// Decode authenticates req against secrets, any of which may have signed
	// it (rotation), comparing in constant time over the raw body before any
	// parsing, and then decodes its events.
	//
	// It returns an error wrapping ErrSignature when the signature is
	// missing, malformed or matches no secret, and one wrapping ErrPayload,
	// with a short reason, when the body is authentic but not a payload of
	// this provider. Empty secrets never verify anything.
	Decode(req Request, secrets [][]byte) (Batch, error)

	// Sign returns the header that authenticates body under secret exactly
	// as the upstream provider would send it. Used by the load generator,
	// `hookgate send` and tests.
	Sign(body, secret []byte) (name, value string)
}

// SecretChecker is implemented by providers that refuse some secrets: a key
// the provider publishes (catalog360's "test-webhook") would let anyone
// sign. Config validation calls it for every source secret; the error says
// why, and never quotes the secret.
type SecretChecker interface {
	CheckSecret(secret []byte) error
}

// RetryWindower is implemented by providers whose upstream documents how
// long it goes on retrying an event it could not deliver. A replay guard
// (sources.<name>.max_event_age) shorter than that would acknowledge and
// drop the upstream's own late retries, after an outage of the gateway or
// its store: config validation refuses it.
type RetryWindower interface {
	RetryWindow() time.Duration
}

var (
	providersMu sync.RWMutex
	providers   = map[string]Provider{}
)

// RegisterProvider makes a provider available under name, the value of
// sources.<source>.provider in the config. It panics if name is taken or p
// is nil, as database/sql's Register does.
func RegisterProvider(name string, p Provider) {
	providersMu.Lock()
	defer providersMu.Unlock()
	if p == nil {
		panic("gateway: RegisterProvider " + name + " with nil provider")
	}
	if _, dup := providers[name]; dup {
		panic("gateway: RegisterProvider called twice for " + name)
	}
	providers[name] = p
}

// LookupProvider returns the provider registered under name.
func LookupProvider(name string) (Provider, error) {
	providersMu.RLock()
	defer providersMu.RUnlock()
	p, ok := providers[name]
	if !ok {
		return nil, fmt.Errorf("unknown provider %q (known: %v)", name, providerNamesLocked())
	}
	return p, nil
}

// ProviderNames lists the registered providers, sorted.
func ProviderNames() []string {
	providersMu.RLock()
	defer providersMu.RUnlock()
	return providerNamesLocked()
}

func providerNamesLocked() []string {
	names := make([]string, 0, len(providers))
	for n := range providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SampleStamper is implemented by providers whose samples can be made a
// new event, so that `hookgate send` of a sample is not answered as a
// duplicate of an earlier send (the identity of a sample is fixed) nor,
// under max_event_age, as a stale replay (its time is fixed too).
//
// StampSample returns body with the provider's own event time set to at
// and, when nonce is not empty, the provider's event id (where its events
// carry one) made from nonce. Equal at and nonce give equal bodies, so
// that the same stamp sent twice is the same event. It must not change
// the event's type, subject or object id.
type SampleStamper interface {
	StampSample(body []byte, at time.Time, nonce string) ([]byte, error)
}

// Sampler is implemented by providers that ship sample payloads, one per
// event type they know, for `hookgate send` and the load generator.
type Sampler interface {
	// SampleTypes lists the upstream event types with a sample, sorted
	// (e.g. "product.updated" for iimmpact, "assetitem_updated" for
	// catalog360).
	SampleTypes() []string
	// Sample returns a complete, unsigned request body carrying one event of
	// the given upstream type, or an error naming the known types.
	Sample(eventType string) ([]byte, error)
	// KnownTypes lists the envelope types the provider documents
	// ("iimmpact.product.updated", ...), sorted; `hookgate check` prints the
	// routing table over them. Unknown types still pass through.
	KnownTypes() []string
}
