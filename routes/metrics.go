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
	family("hookgate_ingest_events_total", "counter", "Events received, by source and result (stored, duplicate, stale: older than max_event_age).")
	for _, s := range sources {
		sample("hookgate_ingest_events_total", `source="`+s+`",result="stored"`, counts[s].Stored)
		sample("hookgate_ingest_events_total", `source="`+s+`",result="duplicate"`, counts[s].Duplicates)
		sample("hookgate_ingest_events_total", `source="`+s+`",result="stale"`, counts[s].Stale)
	}
	family("hookgate_ingest_pending_bytes", "gauge", "Request body bytes held in memory now, against server.max_pending_bytes.")
	sample("hookgate_ingest_pending_bytes", "", a.pending.Used())
	family("hookgate_ingest_pending_limit_bytes", "gauge", "server.max_pending_bytes in force.")
	sample("hookgate_ingest_pending_limit_bytes", "", int64(a.Ingester.Config().Server.MaxPendingBytes))
	family("hookgate_ingest_overload_refusals_total", "counter", "Requests answered 503 because their body would have passed server.max_pending_bytes.")
	sample("hookgate_ingest_overload_refusals_total", "", a.pending.Refused())
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
		if h := a.storeHealth(ctx); h != nil {
			family("hookgate_store_warnings", "gauge", "Settings under which the store may lose or evict accepted events; the admin status names them.")
			sample("hookgate_store_warnings", "", int64(len(h.Warnings)))
			family("hookgate_store_orphans_total", "counter", "Queue entries found without their event since the store was opened, dropped.")
			sample("hookgate_store_orphans_total", "", h.Orphans)
		}
		a.subscriberMetrics(ctx, &b, family, sample)
	}

	c.Set(fiber.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	return c.Send(b.Bytes())
}

// subscriberMetrics adds the per-subscriber families; a subscriber whose
// stats cannot be read is left out rather than failing the scrape.
//
// Removed subscribers (out of the config, work still in the store) appear
// in the pending and dead families only, with the same labels as the
// configured ones, and hookgate_subscriber_removed tells them apart (an
// info-style gauge to join on), so that sums over the queue stay whole and
// no series changes its labels when a subscriber is removed.
func (a *admin) subscriberMetrics(ctx context.Context, b *bytes.Buffer,
	family func(name, typ, help string), sample func(name, labels string, v int64)) {
	type row struct {
		name           string
		removed        bool
		pending, dead  int64
		delivered      int64
		paused         bool
		breaker        string
		lastSuccessSec int64
	}
	var rows, removedRows []row
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
	if removed, err := a.removedNames(ctx); err == nil {
		for _, name := range removed {
			if st, err := a.Store.Stats(ctx, name); err == nil {
				// The store's names were valid when configured; escaped all the same.
				removedRows = append(removedRows, row{name: escapeLabel(name), removed: true, pending: st.Pending, dead: st.Dead})
			}
		}
	}
	queued := append(append([]row(nil), rows...), removedRows...)
	sort.Slice(queued, func(i, j int) bool { return queued[i].name < queued[j].name })
	family("hookgate_delivery_attempts_total", "counter", "Delivery attempts by subscriber and what they led to (delivered, retrying, dead).")
	for _, r := range rows {
		n := a.Engine.Attempts(r.name)
		sample("hookgate_delivery_attempts_total", `subscriber="`+r.name+`",outcome="delivered"`, n.Delivered)
		sample("hookgate_delivery_attempts_total", `subscriber="`+r.name+`",outcome="retrying"`, n.Retrying)
		sample("hookgate_delivery_attempts_total", `subscriber="`+r.name+`",outcome="dead"`, n.Dead)
	}
	family("hookgate_subscriber_in_flight", "gauge", "Requests to the subscriber under way in this process (at most max_in_flight).")
	for _, r := range rows {
		sample("hookgate_subscriber_in_flight", `subscriber="`+r.name+`"`, int64(a.Engine.InFlight(r.name)))
	}
	family("hookgate_subscriber_removed", "gauge", "1 for a subscriber no longer in the config whose deliveries are still in the store, 0 for a configured one.")
	for _, r := range queued {
		sample("hookgate_subscriber_removed", `subscriber="`+r.name+`"`, boolInt(r.removed))
	}
	family("hookgate_subscriber_pending", "gauge", "Deliveries waiting or retrying, removed subscribers' included.")
	for _, r := range queued {
		sample("hookgate_subscriber_pending", `subscriber="`+r.name+`"`, r.pending)
	}
	family("hookgate_subscriber_dead", "gauge", "Dead deliveries kept for redelivery, removed subscribers' included.")
	for _, r := range queued {
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
