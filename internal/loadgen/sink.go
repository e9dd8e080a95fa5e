package loadgen

import (
	"bytes"
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

	"github.com/valyala/fasthttp"
)

// maxEnvelope bounds what a sink reads of one delivery.
const maxEnvelope = 1 << 20

// Sink is a subscriber that counts what hookgate delivers, cheaply enough
// that the gateway, not the sink, is what a bench run measures. Every
// delivery is counted by the event it carries (its bench_seq, found by a
// byte scan, not a JSON decode) to find lost and duplicate deliveries, and
// timed end to end from the send time the generator put into the event.
// One delivery in verifyEvery is checked in full: its Standard Webhooks
// signature (SPEC section 4), and that it decodes as an envelope whose id is
// its webhook-id and whose event is the one the scan found.
//
// A Sink is an http.Handler, has a fasthttp handler (ServeFast), and is safe
// for concurrent use.
type Sink struct {
	key         []byte
	now         func() time.Time
	verifyEvery int64
	raw         bool           // deliveries are upstream bodies, not envelopes
	seen        []atomic.Int32 // receipts per bench_seq

	arrivals  atomic.Int64 // every delivery, answered or not; picks the sample
	bad       atomic.Int64 // sampled, signature missing or wrong: answered 401
	malformed atomic.Int64 // not an envelope of the events we sent
	received  atomic.Int64 // counted deliveries, duplicates included
	distinct  atomic.Int64 // events received at least once
	verified  atomic.Int64 // deliveries whose signature was checked
	last      atomic.Int64 // unix nanoseconds of the latest first receipt

	latency *Recorder
}

// NewSink returns a sink for a run of events events, verifying with
// secret, a "whsec_<base64>" subscriber secret, one delivery in
// verifyEvery (1 or less: every delivery). now is the clock receipts are
// timed with (time.Now outside tests).
func NewSink(secret string, events, verifyEvery int, now func() time.Time) (*Sink, error) {
	key, err := DecodeWhsec(secret)
	if err != nil {
		return nil, err
	}
	return &Sink{key: key, now: now, verifyEvery: int64(max(verifyEvery, 1)),
		seen: make([]atomic.Int32, events), latency: NewRecorder(events)}, nil
}

// NewRawSink returns a sink like NewSink's for a relay that delivers the
// upstream iimmpact bodies as they were sent, not envelopes (cmd/hookbench's
// lean relay). It does the same work per delivery: the same scan, and on
// the sample the same signature check and one JSON decode, of the event's
// own fields instead of an envelope's; there is no envelope id to compare
// with webhook-id, so only its presence is checked.
func NewRawSink(secret string, events, verifyEvery int, now func() time.Time) (*Sink, error) {
	s, err := NewSink(secret, events, verifyEvery, now)
	if err != nil {
		return nil, err
	}
	s.raw = true
	return s, nil
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

// envelope is the part of a delivered envelope a full check reads.
type envelope struct {
	ID   string `json:"id"`
	Data struct {
		Object struct {
			Seq    *int64 `json:"bench_seq"`
			SentAt int64  `json:"sent_at_ns"`
		} `json:"object"`
	} `json:"data"`
}

// rawEvent is the part of an upstream iimmpact event a raw sink's full
// check reads.
type rawEvent struct {
	Data struct {
		Seq    *int64 `json:"bench_seq"`
		SentAt int64  `json:"sent_at_ns"`
	} `json:"data"`
}

// ServeHTTP takes one delivery over net/http; see Receive.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEnvelope))
	if err != nil {
		s.malformed.Add(1)
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	h := r.Header
	code := s.Receive(h.Get("webhook-id"), body, func() (string, string) {
		return h.Get("webhook-timestamp"), h.Get("webhook-signature")
	})
	w.WriteHeader(code)
}

// ServeFast takes one delivery over fasthttp, which costs the bench's CPUs
// a fraction of what net/http does per request; see Receive.
func (s *Sink) ServeFast(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	code := s.Receive(string(h.Peek("webhook-id")), ctx.PostBody(), func() (string, string) {
		return string(h.Peek("webhook-timestamp")), string(h.Peek("webhook-signature"))
	})
	ctx.SetStatusCode(code)
}

// Receive counts one delivery of body under webhook-id id and returns the
// status to answer: 401 for a sampled delivery with a bad signature, 400
// for a body that is not one of the bench's envelopes, 204 otherwise.
// sig is called, for sampled deliveries only, for the webhook-timestamp and
// webhook-signature headers.
func (s *Sink) Receive(id string, body []byte, sig func() (timestamp, signature string)) int {
	at := s.now()
	check := (s.arrivals.Add(1)-1)%s.verifyEvery == 0
	seq, ok := scanInt(body, seqKey)
	if id == "" || !ok || seq >= int64(len(s.seen)) {
		s.malformed.Add(1)
		return http.StatusBadRequest
	}
	sentAt, _ := scanInt(body, sentAtKey)
	if check {
		s.verified.Add(1)
		ts, header := sig()
		if !VerifyStandard(s.key, id, ts, header, body) {
			s.bad.Add(1)
			return http.StatusUnauthorized
		}
		if !s.wellFormed(id, body, seq, sentAt) {
			s.malformed.Add(1)
			return http.StatusBadRequest
		}
	}
	s.received.Add(1)
	if s.seen[seq].Add(1) == 1 {
		s.distinct.Add(1)
		casMax(&s.last, at.UnixNano())
		if sentAt > 0 {
			s.latency.Add(at.Sub(time.Unix(0, sentAt)))
		}
	}
	return http.StatusNoContent
}

// wellFormed decodes body and tells whether it carries event seq sent at
// sentAt: as the envelope with id id, or, for a raw sink, as the upstream
// event itself.
func (s *Sink) wellFormed(id string, body []byte, seq, sentAt int64) bool {
	if s.raw {
		var ev rawEvent
		err := json.Unmarshal(body, &ev)
		return err == nil && ev.Data.Seq != nil && *ev.Data.Seq == seq && ev.Data.SentAt == sentAt
	}
	var env envelope
	err := json.Unmarshal(body, &env)
	return err == nil && env.ID == id && env.Data.Object.Seq != nil &&
		*env.Data.Object.Seq == seq && env.Data.Object.SentAt == sentAt
}

// The keys the generator writes into every event's own object.
var (
	seqKey    = []byte(`"bench_seq":`)
	sentAtKey = []byte(`"sent_at_ns":`)
)

// scanInt finds the first key in body (a JSON key with its colon) and
// reads the non-negative integer after it, spaces allowed between. The
// bench's events carry bench_seq and sent_at_ns once each, in the event's
// own object, so the first match is the one.
func scanInt(body, key []byte) (int64, bool) {
	i := bytes.Index(body, key)
	if i < 0 {
		return 0, false
	}
	j := i + len(key)
	for j < len(body) && body[j] == ' ' {
		j++
	}
	start := j
	var v int64
	for ; j < len(body) && body[j] >= '0' && body[j] <= '9'; j++ {
		d := int64(body[j] - '0')
		if v > (1<<63-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, j > start
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
	Received   int64 `json:"received"`   // counted deliveries, duplicates included
	Lost       int   `json:"lost"`       // accepted events never received
	Duplicates int   `json:"duplicates"` // receipts beyond the first of an event
	// Unaccepted: distinct events received whose request was not answered
	// 200 (stored, but the answer was lost or late); not an error.
	Unaccepted    int   `json:"unaccepted"`
	Verified      int64 `json:"signatures_checked"` // the sample checked in full
	BadSignatures int64 `json:"bad_signatures"`
	Malformed     int64 `json:"malformed"`
}

// Counts compares the receipts so far with accepted, which tells for every
// bench_seq whether its request was answered 200.
func (s *Sink) Counts(accepted []bool) SinkCounts {
	c := SinkCounts{Received: s.received.Load(), Verified: s.verified.Load(), BadSignatures: s.bad.Load(), Malformed: s.malformed.Load()}
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

// Distinct is the number of events received at least once so far: a cheap
// progress reading, where Counts walks every event.
func (s *Sink) Distinct() int64 { return s.distinct.Load() }

// Arrivals is the number of deliveries that reached the sink so far,
// counted or refused.
func (s *Sink) Arrivals() int64 { return s.arrivals.Load() }

// LastReceipt is when the latest first receipt arrived, by the sink's
// clock; the zero time before any.
func (s *Sink) LastReceipt() time.Time {
	if ns := s.last.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Latency describes the end-to-end latency of first receipts so far.
func (s *Sink) Latency() *Recorder { return s.latency }

// String names the sink's counters for logs; the key is never printed.
func (s *Sink) String() string {
	return fmt.Sprintf("sink{received=%d verified=%d bad=%d malformed=%d}", s.received.Load(), s.verified.Load(), s.bad.Load(), s.malformed.Load())
}
