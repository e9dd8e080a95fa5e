// Package gateway holds hookgate's domain: the envelope every event is
// normalized into, the Provider interface that upstream plugins implement,
// the Store interface that durable backends implement, the Destination
// interface and registry of queue destinations (subscribers.<name>.kind),
// event-pattern routing,
// the configuration types, and the sentinel errors.
//
// It imports nothing else of hookgate's and no web framework: plugins,
// stores, the delivery engine and the HTTP routes all depend on it, never
// the other way round. It imports the standard library and the
// OpenTelemetry trace API only (go.opentelemetry.io/otel/trace: the W3C
// trace context an event carries, and the verify and store spans, made
// only when a tracer is given; the SDK and exporter are
// internal/telemetry's): loading the configuration from YAML (decoding,
// ${VAR} expansion, defaults, validation, file:line errors) is package
// gateway/config's, and compiling subscriber filters (CEL) is package
// gateway/filter's, behind the Filter interface.
package gateway
