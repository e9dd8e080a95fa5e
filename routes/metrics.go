package routes

import (
	"fmt"
	"log/slog"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes/ is the only importer of client_golang, as of Fiber: the core
// reports through small hooks (gateway.IngestObserver, deliver.Observer)
// and the metrics live here, on a registry of their own (not the global
// default), served at GET /metrics by promhttp.
//
// Two kinds of families:
//   - counted as things happen (metrics_hooks.go): ingest requests and
//     events, attempts and their latencies, filter errors. They count this
//     process's work, and cost the hot path a lock-free map read and an
//     atomic add.
//   - read at scrape time (metrics_collect.go): the queue per subscriber
//     from the store, so that several gateways sharing a store report the
//     same, right values; breaker, pause, in-flight, reloads, store health.

// Family is one metric family that GET /metrics exposes.
type Family struct {
	Name string
	Type string // "counter", "gauge" or "histogram"
}

// MetricFamilies lists the families GET /metrics exposes that docs/metrics.md,
// the shipped alert rules and the Grafana dashboard may name: every
// hookgate_ family, and the few of the Go and process collectors the
// dashboard draws. A test scrapes /metrics after traffic and checks the
// list both ways; deploy/'s test checks the rules and the dashboard
// against it.
func MetricFamilies() []Family {
	return []Family{
		{"go_goroutines", "gauge"},
		{"hookgate_backfill_queued_total", "counter"},
		{"hookgate_build_info", "gauge"},
		{"hookgate_config_last_reload_successful", "gauge"},
		{"hookgate_config_loaded_timestamp_seconds", "gauge"},
		{"hookgate_config_reloads_total", "counter"},
		{"hookgate_delivery_attempt_duration_seconds", "histogram"},
		{"hookgate_delivery_dead_total", "counter"},
		{"hookgate_delivery_attempts_total", "counter"},
		{"hookgate_delivery_end_to_end_seconds", "histogram"},
		{"hookgate_filter_errors_total", "counter"},
		{"hookgate_ingest_client_overload_refusals_total", "counter"},
		{"hookgate_ingest_connection_refusals_total", "counter"},
		{"hookgate_ingest_connections", "gauge"},
		{"hookgate_ingest_events_total", "counter"},
		{"hookgate_ingest_overload_refusals_total", "counter"},
		{"hookgate_ingest_pending_bytes", "gauge"},
		{"hookgate_ingest_pending_limit_bytes", "gauge"},
		{"hookgate_ingest_registration_tests_total", "counter"},
		{"hookgate_ingest_requests_total", "counter"},
		{"hookgate_ingest_slow_upload_refusals_total", "counter"},
		{"hookgate_opevents_queue_limit", "gauge"},
		{"hookgate_opevents_queued", "gauge"},
		{"hookgate_opevents_total", "counter"},
		{"hookgate_panics_total", "counter"},
		{"hookgate_store_corrupt_records", "gauge"},
		{"hookgate_store_orphans_total", "counter"},
		{"hookgate_store_up", "gauge"},
		{"hookgate_store_warnings", "gauge"},
		{"hookgate_subscriber_breaker_state", "gauge"},
		{"hookgate_subscriber_dead", "gauge"},
		{"hookgate_subscriber_delivered_total", "counter"},
		{"hookgate_subscriber_in_flight", "gauge"},
		{"hookgate_subscriber_last_success_timestamp_seconds", "gauge"},
		{"hookgate_subscriber_oldest_pending_age_seconds", "gauge"},
		{"hookgate_subscriber_paused", "gauge"},
		{"hookgate_subscriber_pending", "gauge"},
		{"hookgate_subscriber_removed", "gauge"},
		{"hookgate_subscriber_retrying", "gauge"},
		{"hookgate_trace_spans_total", "counter"},
		{"process_resident_memory_bytes", "gauge"},
	}
}

// newRegistry returns the registry GET /metrics serves: the Go and
// process collectors, d.metrics' families and the scrape-time collector
// over d.
func newRegistry(d Deps) *prometheus.Registry {
	m := d.metrics
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.events, m.attempts, m.attemptSeconds, m.endToEnd, m.filterErrors, m.deadReasons,
		&scrapeCollector{d: d},
	)
	return reg
}

// metricsHandler serves the registry in the exposition format the scraper
// asks for, compressed if it accepts it. A collector's error is logged and
// the rest is served, so that one failing read does not blank a scrape.
// With admin.token set the scraper must send it (tokenGate), as a bearer
// token or a Basic password: the metrics name every source and
// subscriber, their traffic and the version, which the API guards too.
func metricsHandler(d Deps) fiber.Handler {
	m := d.metrics
	h := adaptor.HTTPHandler(promhttp.HandlerFor(newRegistry(d), promhttp.HandlerOpts{
		ErrorLog:      promLogger{d.Logger},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return func(c *fiber.Ctx) error {
		if pass, err := tokenGate(d.Ingester, c); !pass {
			return err
		}
		// The configured sources and subscribers get their series before
		// their first request or attempt, at 0, so that rate() and
		// increase() see the first one.
		cfg := d.Ingester.Config()
		for name := range cfg.Sources {
			m.source(name)
		}
		for name := range cfg.Subscribers {
			m.subscriber(name)
		}
		return h(c)
	}
}

// promLogger passes promhttp's errors to slog.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn("metrics: " + fmt.Sprint(v...)) }
