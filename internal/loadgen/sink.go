package loadgen

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// maxEnvelope bounds what a sink reads of one delivery.
const maxEnvelope = 1 << 20

// Sink is a subscriber that checks what hookgate delivers: it verifies the
// Standard Webhooks signature of every envelope (SPEC section 4), counts
// receipts per event to find lost and duplicate deliveries, and measures the
// end-to-end latency from the send time the generator put into the event.
//
// A Sink is an http.Handler and safe for concurrent use.
type Sink struct {
	key  []byte
	now  func() time.Time
	seen []atomic.Int32 // receipts per bench_seq

	bad       atomic.Int64 // signature missing or wrong: answered 401
	malformed atomic.Int64 // signed, but not an envelope we sent
	received  atomic.Int64 // verified deliveries, duplicates included

	latency *Recorder
}

// NewSink returns a sink for a run of events events, verifying with
// secret, a "whsec_<base64>" subscriber secret. now is the clock receipts
// are timed with (time.Now outside tests).
func NewSink(secret string, events int, now func() time.Time) (*Sink, error) {
	key, err := DecodeWhsec(secret)
	if err != nil {
		return nil, err
	}
	return &Sink{key: key, now: now, seen: make([]atomic.Int32, events), latency: NewRecorder(events)}, nil
}

// DecodeWhsec returns the signing key of a "whsec_<base64>" secret.
func DecodeWhsec(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, errors.New("subscriber secret: want whsec_<base64>")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) == 0 {
		return nil, errors.New("subscriber secret: bad base64 after whsec_")
	}
	return key, nil
}

// envelope is the part of a delivered envelope the sink reads.
type envelope struct {
	ID   string `json:"id"`
	Data struct {
		Object struct {
			Seq    *int64 `json:"bench_seq"`
			SentAt int64  `json:"sent_at_ns"`
		} `json:"object"`
	} `json:"data"`
}

// ServeHTTP checks one delivery: 401 for a bad signature, 400 for a body
// that is not one of the bench's envelopes, 204 otherwise.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := s.now()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEnvelope))
	if err != nil {
		s.malformed.Add(1)
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	id := r.Header.Get("webhook-id")
	if !VerifyStandard(s.key, id, r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body) {
		s.bad.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || env.ID != id || env.Data.Object.Seq == nil ||
		*env.Data.Object.Seq < 0 || *env.Data.Object.Seq >= int64(len(s.seen)) {
		s.malformed.Add(1)
		http.Error(w, "not a bench envelope", http.StatusBadRequest)
		return
	}
	s.received.Add(1)
	if s.seen[*env.Data.Object.Seq].Add(1) == 1 {
		s.latency.Add(at.Sub(time.Unix(0, env.Data.Object.SentAt)))
	}
	w.WriteHeader(http.StatusNoContent)
}

// VerifyStandard reports whether sigHeader, a webhook-signature header of
// space-separated "v1,<base64>" entries, holds a valid signature of
// "{id}.{timestamp}.{body}" under key. Missing parts never verify.
func VerifyStandard(key []byte, id, timestamp, sigHeader string, body []byte) bool {
	if id == "" || timestamp == "" || sigHeader == "" {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	want := m.Sum(nil)
	for _, entry := range strings.Fields(sigHeader) {
		b64, ok := strings.CutPrefix(entry, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// SinkCounts is what a sink saw of the events the gateway accepted.
type SinkCounts struct {
	Received   int64 `json:"received"`   // verified deliveries, duplicates included
	Lost       int   `json:"lost"`       // accepted events never received
	Duplicates int   `json:"duplicates"` // receipts beyond the first of an event
	// Unaccepted: distinct events received whose request was not answered
	// 200 (stored, but the answer was lost or late); not an error.
	Unaccepted    int   `json:"unaccepted"`
	BadSignatures int64 `json:"bad_signatures"`
	Malformed     int64 `json:"malformed"`
}

// Counts compares the receipts so far with accepted, which tells for every
// bench_seq whether its request was answered 200.
func (s *Sink) Counts(accepted []bool) SinkCounts {
	c := SinkCounts{Received: s.received.Load(), BadSignatures: s.bad.Load(), Malformed: s.malformed.Load()}
	for seq := range s.seen {
		n := int(s.seen[seq].Load())
		ok := seq < len(accepted) && accepted[seq]
		switch {
		case n == 0 && ok:
			c.Lost++
		case n > 0 && !ok:
			c.Unaccepted++
		}
		if n > 1 {
			c.Duplicates += n - 1
		}
	}
	return c
}

// Latency describes the end-to-end latency of first receipts so far.
func (s *Sink) Latency() *Recorder { return s.latency }

// String names the sink's counters for logs; the key is never printed.
func (s *Sink) String() string {
	return fmt.Sprintf("sink{received=%d bad=%d malformed=%d}", s.received.Load(), s.bad.Load(), s.malformed.Load())
}
