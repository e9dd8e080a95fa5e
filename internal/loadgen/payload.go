package loadgen

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"math/rand/v2"
	"strconv"
	"time"
)

// Kind is the upstream provider a generated request imitates.
type Kind uint8

// The two providers of SPEC section 3.
const (
	Iimmpact Kind = iota
	Catalog360
)

// String is the provider's (and the bench config's source) name.
func (k Kind) String() string {
	if k == Catalog360 {
		return "catalog360"
	}
	return "iimmpact"
}

// stampWidth is the width of a unix-nanosecond time between 2001 and 2286.
// Every body is generated with a placeholder of this width where the send
// time goes, so stamping overwrites bytes in place instead of rebuilding.
const stampWidth = 19

const stampPlaceholder = "1000000000000000000"

// Plan says what requests a Generator prepares.
type Plan struct {
	Requests int
	// Catalog360 is the fraction (0..1) of requests that are catalog360
	// batches; the rest are single iimmpact events.
	Catalog360 float64
	// BatchSize is the number of events in each catalog360 batch (1..100).
	BatchSize int
	// Seed makes the provider mix reproducible.
	Seed uint64
	// RunID is put into every upstream id so that no two runs, and no two
	// events of one run, share an identity: nothing is deduplicated.
	RunID string
	// Time is the provider's event time written into the bodies.
	Time time.Time
	// Secrets sign the two providers' requests.
	IimmpactSecret, Catalog360Secret []byte
}

// template is one prepared request: its body with placeholders where the
// send time goes.
type template struct {
	kind     Kind
	body     []byte
	stamps   []int // offsets of the stampWidth-byte placeholders
	firstSeq int   // bench_seq of its first event
	events   int
}

// Generator holds every request of a run, prepared before the timed phase.
// Events are numbered 0..Events()-1 in request order (bench_seq); the sinks
// use the number to find lost and duplicate deliveries.
type Generator struct {
	plan   Plan
	reqs   []template
	events int
}

// iimmpactKinds are the non-deletion types the generator rotates through:
// deletions carry no data, so no send time could ride along.
var iimmpactKinds = [][2]string{
	{"product.updated", "products"},
	{"option.updated", "options"},
	{"product.created", "products"},
	{"category.updated", "categories"},
	{"group.updated", "groups"},
}

// NewGenerator prepares every request of plan.
func NewGenerator(plan Plan) (*Generator, error) {
	if plan.Requests < 0 {
		return nil, fmt.Errorf("requests %d: must not be negative", plan.Requests)
	}
	if plan.Catalog360 < 0 || plan.Catalog360 > 1 {
		return nil, fmt.Errorf("catalog360 fraction %v: want 0..1", plan.Catalog360)
	}
	if plan.BatchSize < 1 || plan.BatchSize > 100 {
		return nil, fmt.Errorf("batch size %d: want 1..100", plan.BatchSize)
	}
	if len(plan.IimmpactSecret) == 0 || len(plan.Catalog360Secret) == 0 {
		return nil, fmt.Errorf("empty signing secret")
	}
	g := &Generator{plan: plan, reqs: make([]template, plan.Requests)}
	rng := rand.New(rand.NewPCG(plan.Seed, plan.Seed^0x9e3779b97f4a7c15))
	ts := plan.Time.UTC().Format("2006-01-02T15:04:05.000Z")
	for i := range g.reqs {
		if rng.Float64() < plan.Catalog360 {
			g.reqs[i] = g.catalog360(g.events, plan.BatchSize)
		} else {
			g.reqs[i] = g.iimmpact(g.events, i, ts)
		}
		g.events += g.reqs[i].events
	}
	return g, nil
}

// Requests is the number of prepared requests.
func (g *Generator) Requests() int { return len(g.reqs) }

// Events is the number of events over all requests.
func (g *Generator) Events() int { return g.events }

// Request tells the provider, first event number and event count of
// request i.
func (g *Generator) Request(i int) (kind Kind, firstSeq, events int) {
	t := &g.reqs[i]
	return t.kind, t.firstSeq, t.events
}

func (g *Generator) iimmpact(seq, i int, ts string) template {
	k := iimmpactKinds[i%len(iimmpactKinds)]
	id := "BENCH-" + g.plan.RunID + "-" + strconv.Itoa(seq)
	b := make([]byte, 0, 512)
	b = append(b, `{"type":"`...)
	b = append(b, k[0]...)
	b = append(b, `","resource":"`...)
	b = append(b, k[1]...)
	b = append(b, `","id":"`...)
	b = append(b, id...)
	b = append(b, `","timestamp":"`...)
	b = append(b, ts...)
	b = append(b, `","data":{"id":"`...)
	b = append(b, id...)
	b = append(b, `","bench_seq":`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `,"sent_at_ns":`...)
	at := len(b)
	b = append(b, stampPlaceholder...)
	b = append(b, `,"name":"Celcom RM10 reload","price":"10.00","currency":"MYR","status":"active","category":"prepaid","denominations":[5,10,30,50,100]}}`...)
	return template{kind: Iimmpact, body: b, stamps: []int{at}, firstSeq: seq, events: 1}
}

func (g *Generator) catalog360(seq, n int) template {
	t := template{kind: Catalog360, firstSeq: seq, events: n, stamps: make([]int, 0, n)}
	b := make([]byte, 0, 64+n*400)
	b = append(b, `{"events":[`...)
	for j := 0; j < n; j++ {
		if j > 0 {
			b = append(b, ',')
		}
		id := "bench-" + g.plan.RunID + "-" + strconv.Itoa(seq+j)
		b = append(b, `{"event_class":"assetitem_updated","payload_class":"assetitem","payload":{"old":{"id":"`...)
		b = append(b, id...)
		b = append(b, `","title":"Blue mug","price":1190,"stock":4},"new":{"id":"`...)
		b = append(b, id...)
		b = append(b, `","bench_seq":`...)
		b = strconv.AppendInt(b, int64(seq+j), 10)
		b = append(b, `,"sent_at_ns":`...)
		t.stamps = append(t.stamps, len(b))
		b = append(b, stampPlaceholder...)
		b = append(b, `,"title":"Blue mug","price":1290,"stock":3,"tags":["kitchen","ceramic"]}}}`...)
	}
	b = append(b, `]}`...)
	t.body = b
	return t
}

// Stamper turns prepared requests into signed bodies. It reuses its
// buffers and HMAC states, so one Stamper serves one goroutine and a body it
// returns is valid only until its next Stamp.
type Stamper struct {
	g      *Generator
	ii, c3 hash.Hash
	body   []byte
	sig    []byte
	sum    []byte
	num    []byte
}

// NewStamper returns a Stamper over g's requests.
func (g *Generator) NewStamper() *Stamper {
	return &Stamper{
		g:  g,
		ii: hmac.New(sha256.New, g.plan.IimmpactSecret),
		c3: hmac.New(sha256.New, g.plan.Catalog360Secret),
	}
}

// Stamp writes sentAt (unix nanoseconds, 2001..2286) into every event of
// request i and signs the result as its provider would. It returns the
// ingest path, the body, and the signature header's name and value.
func (s *Stamper) Stamp(i int, sentAt int64) (path string, body []byte, header string, value []byte) {
	t := &s.g.reqs[i]
	s.num = strconv.AppendInt(s.num[:0], sentAt, 10)
	if len(s.num) != stampWidth {
		panic(fmt.Sprintf("loadgen: send time %d is not a %d-digit unix nano time", sentAt, stampWidth))
	}
	s.body = append(s.body[:0], t.body...)
	for _, at := range t.stamps {
		copy(s.body[at:at+stampWidth], s.num)
	}
	m := s.ii
	if t.kind == Catalog360 {
		m = s.c3
	}
	m.Reset()
	m.Write(s.body)
	s.sum = m.Sum(s.sum[:0])
	if t.kind == Catalog360 {
		s.sig = appendCatalog360Sig(s.sig[:0], s.sum)
		return "/webhooks/catalog360", s.body, Catalog360Header, s.sig
	}
	s.sig = appendIimmpactSig(s.sig[:0], s.sum)
	return "/webhooks/iimmpact", s.body, IimmpactHeader, s.sig
}
