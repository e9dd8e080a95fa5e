package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// SpecVersion is the CloudEvents version of every Envelope.
const SpecVersion = "1.0"

// Event is one upstream event as a Provider decodes it, before it is given
// its source name and id.
type Event struct {
	// Identity distinguishes this upstream event from every other of the same
	// source; the same upstream event redelivered has the same Identity. The
	// envelope id is derived from it, so it drives deduplication.
	Identity string
	// Type is "<provider>.<resource>.<action>", resource singular:
	// "iimmpact.product.updated".
	Type string
	// Subject is "<resource>/<id>", or "" when the id is unknown.
	Subject string
	// Time is the provider's time of the event; zero means unknown, and the
	// receipt time is used.
	Time time.Time
	// Object is the current state (for deletions the last known state), or
	// nil / JSON null when there is none.
	Object json.RawMessage
	// Previous is the prior state where the provider gives one, else nil.
	Previous json.RawMessage
}

// Envelope is the CloudEvents 1.0 structured-mode document that subscribers
// receive, one per event.
//
// TraceParent and TraceState are the CloudEvents distributed-tracing
// extension: the W3C trace context of the event (see SetTrace). They come
// right after specversion, so that delivery reads them off the front of
// the stored document (TraceOfBody); where they sit means nothing to a
// JSON reader.
type Envelope struct {
	SpecVersion     string    `json:"specversion"`
	TraceParent     string    `json:"traceparent,omitempty"`
	TraceState      string    `json:"tracestate,omitempty"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	Data            Data      `json:"data"`
}

// Data is the envelope's payload: the object's state and, where known, its
// previous state.
type Data struct {
	Object   json.RawMessage `json:"object"`
	Previous json.RawMessage `json:"previous,omitempty"`
}

var jsonNull = json.RawMessage("null")

// NewEnvelope wraps ev, received from the named source at receivedAt, in an
// envelope. The id depends only on source and ev.Identity.
func NewEnvelope(source string, ev Event, receivedAt time.Time) Envelope {
	t := ev.Time
	if t.IsZero() {
		t = receivedAt
	}
	obj := ev.Object
	if len(obj) == 0 {
		obj = jsonNull
	}
	return Envelope{
		SpecVersion:     SpecVersion,
		ID:              EventID(source, ev.Identity),
		Source:          source,
		Type:            ev.Type,
		Subject:         ev.Subject,
		Time:            t.UTC(),
		DataContentType: "application/json",
		Data:            Data{Object: obj, Previous: ev.Previous},
	}
}

// EventID is the stable envelope id of the event with the given identity
// from the given source: "evt_" and 32 hex digits of a SHA-256.
func EventID(source, identity string) string {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(identity))
	var sum [sha256.Size]byte
	return "evt_" + hex.EncodeToString(h.Sum(sum[:0])[:16])
}
