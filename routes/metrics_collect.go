package routes

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookgate/hookgate/gateway"
)

// scrapeTimeout bounds the store reads of one scrape (ping, health, stats
// and paused flag of each subscriber): a stalled store leaves families out
// rather than holding the scraper past its own timeout (10s by default).
const scrapeTimeout = 5 * time.Second

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The families read at scrape time.
var (
	descBuildInfo = desc("hookgate_build_info", "Always 1; the version is a label.", "version")

	descPendingBytes   = desc("hookgate_ingest_pending_bytes", "Bytes ingest requests hold in memory now (bodies as they arrive, and what decoding and storing make of them), against server.max_pending_bytes.")
	descPendingLimit   = desc("hookgate_ingest_pending_limit_bytes", "server.max_pending_bytes in force.")
	descOverload       = desc("hookgate_ingest_overload_refusals_total", "Requests answered 503 because they would have passed server.max_pending_bytes, a client's share of it, or the room kept for small bodies.")
	descClientOverload = desc("hookgate_ingest_client_overload_refusals_total", "Of the overload refusals, those for a client address's share (server.max_pending_bytes_per_client).")
	descSlowUploads    = desc("hookgate_ingest_slow_upload_refusals_total", "Requests answered 408 because their body arrived slower than server.min_upload_rate.")
	descConns          = desc("hookgate_ingest_connections", "Connections open on the public listener.")
	descConnRefusals   = desc("hookgate_ingest_connection_refusals_total", "Connections refused as accepted because their client address held server.max_conns_per_client already.")
	descRegTests       = desc("hookgate_ingest_registration_tests_total", "Provider registration tests answered, by source.", "source")

	descReloadOK = desc("hookgate_config_last_reload_successful", "1 if the latest reload succeeded or none was tried.")
	descLoadedAt = desc("hookgate_config_loaded_timestamp_seconds", "When the config in force was loaded.")
	descReloads  = desc("hookgate_config_reloads_total", "Config reloads (file watch, SIGHUP and the admin API together), by result: success, failure.", "result")

	descStoreUp  = desc("hookgate_store_up", "1 while the store answers.")
	descWarnings = desc("hookgate_store_warnings", "Settings under which the store may lose or evict accepted events; the admin status names them.")
	descOrphans  = desc("hookgate_store_orphans_total", "Queue entries found without their event since the store was opened, dropped.")
	descCorrupt  = desc("hookgate_store_corrupt_records", "Records that did not decode and were set aside, kept in the store for inspection, rather than block their queue.")
	descPanics   = desc("hookgate_panics_total", "Panics recovered in this process, by component (http, a store's writers, dispatchers, sweeper, backfill, reload): each failed only the work in hand, as unavailable.", "component")

	descRemoved     = desc("hookgate_subscriber_removed", "1 for a subscriber no longer in the config whose deliveries are still in the store, 0 for a configured one.", "subscriber")
	descPending     = desc("hookgate_subscriber_pending", "Deliveries waiting or retrying (retrying included), in the store shared by all gateways; removed subscribers' included.", "subscriber")
	descRetrying    = desc("hookgate_subscriber_retrying", "Of the pending deliveries, those with a failed attempt behind them; removed subscribers' included.", "subscriber")
	descOldestAge   = desc("hookgate_subscriber_oldest_pending_age_seconds", "Age of the oldest pending or retrying delivery (from receipt or manual redelivery); 0 when none.", "subscriber")
	descDead        = desc("hookgate_subscriber_dead", "Dead deliveries kept for redelivery; removed subscribers' included.", "subscriber")
	descDelivered   = desc("hookgate_subscriber_delivered_total", "Deliveries that succeeded, over the store's lifetime, by all gateways.", "subscriber")
	descLastSuccess = desc("hookgate_subscriber_last_success_timestamp_seconds", "When a delivery last succeeded; 0 if never.", "subscriber")
	descPaused      = desc("hookgate_subscriber_paused", "1 while the subscriber's deliveries are held.", "subscriber")
	descBreaker     = desc("hookgate_subscriber_breaker_state", "1 for the state this process's breaker is in (closed, open, half-open), 0 for the others.", "subscriber", "state")
	descInFlight    = desc("hookgate_subscriber_in_flight", "Requests to the subscriber under way in this process (at most max_in_flight).", "subscriber")
	descBackfilled  = desc("hookgate_backfill_queued_total", "Deliveries queued by backfills run in this process (a new subscriber's retained events), by subscriber.", "subscriber")

	descOpEvents     = desc("hookgate_opevents_total", "The gateway's own events (source hookgate) raised in this process, by result: stored, duplicate (another gateway stored it), unchanged (no transition: another gateway made it, or a dead delivery's record did not land), unrouted, suppressed (a breaker flapping), loop (a dead operational event), dropped (queue full, or left at shutdown), failure (a store error, retried).", "result")
	descOpQueued     = desc("hookgate_opevents_queued", "The gateway's own events waiting to be stored in this process.")
	descOpQueueLimit = desc("hookgate_opevents_queue_limit", "The bound of hookgate_opevents_queued; past it, events are dropped and counted.")

	descSpans = desc("hookgate_trace_spans_total", "Trace spans of this process by result: exported, failed (in an export that failed after its retries), dropped (the export queue was full); 0 with tracing off.", "result")
)

var breakerStates = [...]string{"closed", "open", "half-open"}

// scrapeCollector reads, at each scrape, what is not counted as it
// happens: the store's view of each subscriber's queue (right across
// several gateways sharing the store), this process's breakers, pauses
// and requests in flight, the reloads, the body budget and the store's
// health.
//
// Removed subscribers (out of the config, work still in the store) appear
// in the queue families (pending, retrying, oldest age, dead) with the
// same labels as configured ones, and hookgate_subscriber_removed tells
// them apart (an info-style gauge to join on), so that sums over the
// queue stay whole and no series changes its labels on removal. A
// subscriber whose stats cannot be read is left out of the scrape rather
// than failing it.
type scrapeCollector struct{ d Deps }

// Describe implements prometheus.Collector.
func (s *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descBuildInfo, descPendingBytes, descPendingLimit, descOverload, descRegTests,
		descClientOverload, descSlowUploads, descConns, descConnRefusals,
		descReloadOK, descLoadedAt, descReloads, descStoreUp, descWarnings, descOrphans, descCorrupt, descPanics,
		descRemoved, descPending, descRetrying, descOldestAge, descDead, descDelivered,
		descLastSuccess, descPaused, descBreaker, descInFlight, descBackfilled, descSpans,
		descOpEvents, descOpQueued, descOpQueueLimit,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	d := s.d
	send := func(desc *prometheus.Desc, typ prometheus.ValueType, v float64, labels []string) {
		m, err := prometheus.NewConstMetric(desc, typ, v, labels...)
		if err != nil {
			// A label value that is not UTF-8 (a store's name from
			// elsewhere): reported as the scrape's error, not a panic.
			m = prometheus.NewInvalidMetric(desc, err)
		}
		ch <- m
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) { send(desc, prometheus.GaugeValue, v, labels) }
	counter := func(desc *prometheus.Desc, v float64, labels ...string) {
		send(desc, prometheus.CounterValue, v, labels)
	}

	gauge(descBuildInfo, 1, d.Version)
	gauge(descPendingBytes, float64(d.pending.Used()))
	gauge(descPendingLimit, float64(d.Ingester.Config().Server.MaxPendingBytes))
	counter(descOverload, float64(d.pending.Refused()))
	counter(descClientOverload, float64(d.pending.clientRefused.Load()))
	counter(descSlowUploads, float64(d.pending.slow.Load()))
	gauge(descConns, float64(d.conns.Open()))
	counter(descConnRefusals, float64(d.conns.Refused()))
	for source, n := range d.Ingester.Counts() {
		counter(descRegTests, float64(n.Tests), source)
	}

	for _, p := range gateway.Panics() {
		counter(descPanics, float64(p.Count), p.Component)
	}
	var exported, failed, dropped int64 // tracing off: all 0
	if d.SpanCounts != nil {
		exported, failed, dropped = d.SpanCounts()
	}
	counter(descSpans, float64(exported), "exported")
	counter(descSpans, float64(failed), "failed")
	counter(descSpans, float64(dropped), "dropped")

	var ops gateway.OpStats // none raised: all 0
	if d.OpStats != nil {
		ops = d.OpStats()
	}
	for _, r := range []struct {
		result string
		n      int64
	}{{"stored", ops.Stored}, {"duplicate", ops.Duplicates}, {"unchanged", ops.Unchanged}, {"unrouted", ops.Unrouted},
		{"suppressed", ops.Suppressed}, {"loop", ops.Loops}, {"dropped", ops.Dropped}, {"failure", ops.Failures}} {
		counter(descOpEvents, float64(r.n), r.result)
	}
	gauge(descOpQueued, float64(ops.Queued))
	gauge(descOpQueueLimit, float64(ops.QueueMax))

	if r := d.Reloader; r != nil {
		gauge(descReloadOK, float64(boolInt(r.LastReloadError() == "")))
		gauge(descLoadedAt, float64(r.LoadedAt().Unix()))
		ok, failed := r.ReloadCounts()
		counter(descReloads, float64(ok), "success")
		counter(descReloads, float64(failed), "failure")
	}

	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	a := &admin{Deps: d}
	if err := d.Store.Ping(ctx); err != nil {
		gauge(descStoreUp, 0)
		return
	}
	gauge(descStoreUp, 1)
	if h := a.storeHealth(ctx); h != nil {
		gauge(descWarnings, float64(len(h.Warnings)))
		counter(descOrphans, float64(h.Orphans))
		gauge(descCorrupt, float64(h.Corrupt))
	}
	s.collectSubscribers(ctx, a, gauge, counter)
}

func (s *scrapeCollector) collectSubscribers(ctx context.Context, a *admin,
	gauge, counter func(desc *prometheus.Desc, v float64, labels ...string)) {
	d := s.d
	now := d.Now()
	queue := func(name string, removed bool) bool {
		st, err := d.Store.Stats(ctx, name)
		if err != nil {
			return false
		}
		gauge(descRemoved, float64(boolInt(removed)), name)
		gauge(descPending, float64(st.Pending), name)
		gauge(descRetrying, float64(st.Retrying), name)
		gauge(descDead, float64(st.Dead), name)
		var age float64
		if !st.OldestPendingAt.IsZero() {
			age = max(now.Sub(st.OldestPendingAt).Seconds(), 0)
		}
		gauge(descOldestAge, age, name)
		if !removed {
			counter(descDelivered, float64(st.Delivered), name)
			var last float64
			if !st.LastSuccessAt.IsZero() {
				last = float64(st.LastSuccessAt.Unix())
			}
			gauge(descLastSuccess, last, name)
		}
		return true
	}
	for _, name := range a.subscriberNames() {
		paused, err := d.Store.Paused(ctx, name)
		if err != nil || !queue(name, false) {
			continue
		}
		gauge(descPaused, float64(boolInt(paused != gateway.PauseNone)), name)
		gauge(descInFlight, float64(d.Engine.InFlight(name)), name)
		var backfilled int64
		if d.Backfills != nil {
			if p, ok := d.Backfills.Backfill(name); ok {
				backfilled = p.Queued
			}
		}
		counter(descBackfilled, float64(backfilled), name)
		if state := d.Engine.Breaker(name); state != "" {
			for _, st := range breakerStates {
				gauge(descBreaker, float64(boolInt(state == st)), name, st)
			}
		}
	}
	removed, err := a.removedNames(ctx)
	if err != nil {
		return
	}
	for _, name := range removed {
		queue(name, true)
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
