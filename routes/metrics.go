package routes

import (
	"bytes"
	"context"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
)

// countedCodes are the ingest answers with a counter of their own; any
// other code counts as "other".
var countedCodes = [...]int{200, 400, 401, 404, 413, 503}

// requestCounts counts ingest answers by status code, lock-free: the public
// app adds, /metrics on the admin app reads.
type requestCounts struct {
	byCode [len(countedCodes) + 1]atomic.Int64
}

func (r *requestCounts) add(code int) {
	for i, c := range countedCodes {
		if c == code {
			r.byCode[i].Add(1)
			return
		}
	}
	r.byCode[len(countedCodes)].Add(1)
}

// metrics serves GET /metrics in the Prometheus text format (0.0.4). It is
// written by hand: a dozen families do not justify a client library, and
// the hot path only touches atomics.
func (a *admin) metrics(c *fiber.Ctx) error {
	var b bytes.Buffer
	family := func(name, typ, help string) {
		b.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
	}
	sample := func(name, labels string, v int64) {
		b.WriteString(name)
		if labels != "" {
			b.WriteString("{" + labels + "}")
		}
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(v, 10))
		b.WriteByte('\n')
	}

	family("hookgate_build_info", "gauge", "Always 1; the version is a label.")
	sample("hookgate_build_info", `version="`+escapeLabel(a.Version)+`"`, 1)

	family("hookgate_ingest_requests_total", "counter", "Ingest requests answered, by status code.")
	for i, code := range countedCodes {
		sample("hookgate_ingest_requests_total", `code="`+strconv.Itoa(code)+`"`, a.requests.byCode[i].Load())
	}
	sample("hookgate_ingest_requests_total", `code="other"`, a.requests.byCode[len(countedCodes)].Load())

	counts := a.Ingester.Counts()
	sources := make([]string, 0, len(counts))
	for name := range counts {
		sources = append(sources, name)
	}
	sort.Strings(sources)
	family("hookgate_ingest_events_total", "counter", "Events received, by source and result (stored, duplicate).")
	for _, s := range sources {
		sample("hookgate_ingest_events_total", `source="`+s+`",result="stored"`, counts[s].Stored)
		sample("hookgate_ingest_events_total", `source="`+s+`",result="duplicate"`, counts[s].Duplicates)
	}
	family("hookgate_ingest_registration_tests_total", "counter", "Provider registration tests answered, by source.")
	for _, s := range sources {
		sample("hookgate_ingest_registration_tests_total", `source="`+s+`"`, counts[s].Tests)
	}

	if a.Reloader != nil {
		family("hookgate_config_last_reload_successful", "gauge", "1 if the latest reload succeeded or none was tried.")
		ok := int64(1)
		if a.Reloader.LastReloadError() != "" {
			ok = 0
		}
		sample("hookgate_config_last_reload_successful", "", ok)
		family("hookgate_config_loaded_timestamp_seconds", "gauge", "When the config in force was loaded.")
		sample("hookgate_config_loaded_timestamp_seconds", "", a.Reloader.LoadedAt().Unix())
	}

	ctx, cancel := context.WithTimeout(c.UserContext(), pingTimeout)
	defer cancel()
	up := int64(1)
	if err := a.Store.Ping(ctx); err != nil {
		up = 0
	}
	family("hookgate_store_up", "gauge", "1 while the store answers.")
	sample("hookgate_store_up", "", up)
	if up == 1 {
		a.subscriberMetrics(ctx, &b, family, sample)
	}

	c.Set(fiber.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	return c.Send(b.Bytes())
}

// subscriberMetrics adds the per-subscriber families; a subscriber whose
// stats cannot be read is left out rather than failing the scrape.
func (a *admin) subscriberMetrics(ctx context.Context, b *bytes.Buffer,
	family func(name, typ, help string), sample func(name, labels string, v int64)) {
	type row struct {
		name           string
		pending, dead  int64
		delivered      int64
		paused         bool
		breaker        string
		lastSuccessSec int64
	}
	var rows []row
	for _, name := range a.subscriberNames() {
		st, err := a.Store.Stats(ctx, name)
		if err != nil {
			continue
		}
		paused, err := a.Store.Paused(ctx, name)
		if err != nil {
			continue
		}
		r := row{name: name, pending: st.Pending, dead: st.Dead, delivered: st.Delivered,
			paused: paused, breaker: a.Engine.Breaker(name)}
		if !st.LastSuccessAt.IsZero() {
			r.lastSuccessSec = st.LastSuccessAt.Unix()
		}
		rows = append(rows, r)
	}
	family("hookgate_delivery_attempts_total", "counter", "Delivery attempts by subscriber and what they led to (delivered, retrying, dead).")
	for _, r := range rows {
		n := a.Engine.Attempts(r.name)
		sample("hookgate_delivery_attempts_total", `subscriber="`+r.name+`",outcome="delivered"`, n.Delivered)
		sample("hookgate_delivery_attempts_total", `subscriber="`+r.name+`",outcome="retrying"`, n.Retrying)
		sample("hookgate_delivery_attempts_total", `subscriber="`+r.name+`",outcome="dead"`, n.Dead)
	}
	family("hookgate_subscriber_in_flight", "gauge", "Requests to the subscriber under way in this process.")
	for _, r := range rows {
		sample("hookgate_subscriber_in_flight", `subscriber="`+r.name+`"`, int64(a.Engine.InFlight(r.name)))
	}
	family("hookgate_subscriber_pending", "gauge", "Deliveries waiting or retrying.")
	for _, r := range rows {
		sample("hookgate_subscriber_pending", `subscriber="`+r.name+`"`, r.pending)
	}
	family("hookgate_subscriber_dead", "gauge", "Dead deliveries kept for redelivery.")
	for _, r := range rows {
		sample("hookgate_subscriber_dead", `subscriber="`+r.name+`"`, r.dead)
	}
	family("hookgate_subscriber_delivered_total", "counter", "Deliveries that succeeded, over the store's lifetime.")
	for _, r := range rows {
		sample("hookgate_subscriber_delivered_total", `subscriber="`+r.name+`"`, r.delivered)
	}
	family("hookgate_subscriber_paused", "gauge", "1 while the subscriber's deliveries are held.")
	for _, r := range rows {
		sample("hookgate_subscriber_paused", `subscriber="`+r.name+`"`, boolInt(r.paused))
	}
	family("hookgate_subscriber_breaker_state", "gauge", "1 for the breaker's current state.")
	for _, r := range rows {
		for _, s := range []string{"closed", "open", "half-open"} {
			sample("hookgate_subscriber_breaker_state", `subscriber="`+r.name+`",state="`+s+`"`, boolInt(r.breaker == s))
		}
	}
	family("hookgate_subscriber_last_success_timestamp_seconds", "gauge", "When a delivery last succeeded; 0 if never.")
	for _, r := range rows {
		sample("hookgate_subscriber_last_success_timestamp_seconds", `subscriber="`+r.name+`"`, r.lastSuccessSec)
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// escapeLabel escapes a label value as the text format requires. Source
// and subscriber names need none (config validation allows [a-z0-9_-]).
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
