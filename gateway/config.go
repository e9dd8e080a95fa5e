package gateway

import (
	"slices"
	"time"
)

// Config is a loaded, validated config.yaml. Package gateway/config
// builds it (config.Load): defaults, then strict parse, then validation,
// which also fills the derived fields (names, signing keys, compiled
// patterns and filters). The yaml tags name each field's key there.
type Config struct {
	Path        string                       `yaml:"-"` // the file it was read from
	Server      ServerConfig                 `yaml:"server"`
	Admin       AdminConfig                  `yaml:"admin"`
	Log         LogConfig                    `yaml:"log"`
	Store       StoreConfig                  `yaml:"store"`
	Sources     map[string]*SourceConfig     `yaml:"sources"`
	Subscribers map[string]*SubscriberConfig `yaml:"subscribers"`
}

// ServerConfig is the public ingest listener.
type ServerConfig struct {
	Listen  string    `yaml:"listen"`   // default "127.0.0.1:8080"
	TLS     TLSConfig `yaml:"tls"`      // both files set: HTTPS
	MaxBody ByteSize  `yaml:"max_body"` // default 5MB
	// MaxPendingBytes bounds the request bodies held in memory at once, all
	// requests together, counted as their bytes arrive; a request that
	// would pass it is answered 503 with Retry-After and the rest of its
	// body left unread. Default 64MB, at least MaxBody.
	MaxPendingBytes ByteSize `yaml:"max_pending_bytes"`
	// MaxPendingBytesPerClient is the most of MaxPendingBytes that the
	// requests of one client address (an IPv6 /64) may hold together, so
	// that one client cannot take the budget of all; past it, 503 as for
	// the whole budget. Default 16MB; 0: no per-client share. At least
	// the largest max_body when set. Behind a reverse proxy every client
	// is the proxy's address.
	MaxPendingBytesPerClient ByteSize `yaml:"max_pending_bytes_per_client"`
	// MaxConnsPerClient bounds the connections one client address (an
	// IPv6 /64) holds open on the public listener; more are answered 503
	// and closed at once. Default 256; 0: no per-client limit.
	MaxConnsPerClient int `yaml:"max_conns_per_client"`
	// MinUploadRate is the slowest a request body may arrive, measured
	// over windows of a few seconds; a slower one is answered 408 and its
	// budget given back, so that a stalled upload holds memory for
	// seconds, not for the whole read timeout. Default 16KB/s; 0: off.
	MinUploadRate ByteRate `yaml:"min_upload_rate"`
}

// TLSConfig names a certificate and key in PEM files.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// AdminConfig is the admin listener (API, metrics, dashboard).
type AdminConfig struct {
	Listen string `yaml:"listen"` // default "127.0.0.1:9090"
	// Token is required unless Listen is loopback; at least
	// config.MinAdminTokenLength characters, no whitespace or control
	// character.
	Token Secret    `yaml:"token"`
	TLS   TLSConfig `yaml:"tls"` // both files set: HTTPS, re-read on change, as server.tls
}

// LogConfig is the gateway's log (SPEC 2).
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info | warn | error; default info; a reload applies it
	Format string `yaml:"format"` // json | text | auto (text on a terminal, json otherwise); default auto; restart to change
}

// StoreConfig selects and configures the store backend.
type StoreConfig struct {
	Path         string        `yaml:"path"`          // embedded store directory, default "./data"
	Redis        *RedisConfig  `yaml:"redis"`         // present: the Redis backend
	Retention    time.Duration `yaml:"retention"`     // default 168h
	DedupeWindow time.Duration `yaml:"dedupe_window"` // default 72h
	// TombstoneWindow is how long an event's id is still recognized after
	// retention has removed the event: a replay of it is a duplicate
	// (acknowledged, not fanned out), known by a tombstone of a few bytes.
	// Config loading sets the default, 720h; 0 (a store opened without
	// it): no tombstones, and an id past its dedupe window is stored
	// afresh.
	TombstoneWindow time.Duration `yaml:"tombstone_window"`
}

// RedisConfig points at a Redis server, cluster or sentinel set. URL
// alone is one server. With Addrs, URL's host and Addrs are the seeds of a
// Redis Cluster; with MasterName as well (or alone), they are the
// sentinels of that master. Credentials, TLS (rediss://) and the database
// come from URL in every case.
type RedisConfig struct {
	URL        Secret   `yaml:"url"`         // may hold a password: never printed
	Addrs      []string `yaml:"addrs"`       // more seeds (host:port)
	MasterName string   `yaml:"master_name"` // set: Sentinel
	Prefix     string   `yaml:"prefix"`      // key prefix, default "hookgate"
	// Partitions splits the store's keys over this many hash slots, fixed
	// when the store is first written; 0: the store's count, or for a new
	// store 16 on a Redis Cluster and 1 otherwise.
	Partitions int `yaml:"partitions"`
	// MinReplicas is how many replicas must confirm each write before it
	// is acknowledged upstream: auto (the zero value) waits for one when
	// the master reports replicas and refuses writes when it cannot read
	// that; a count waits for that many without asking (0: none).
	MinReplicas MinReplicas `yaml:"min_replicas"`
}

// SourceConfig is one upstream account posting to /webhooks/{Name}.
type SourceConfig struct {
	Name     string   `yaml:"-"`
	Provider string   `yaml:"provider"`
	Secrets  []Secret `yaml:"secrets"` // any may verify (rotation); none empty
	// MaxEventAge, when > 0, is the replay guard: an event whose provider
	// timestamp is older than this at receipt is acknowledged (200) and
	// counted, not stored or fanned out. Events without a provider
	// timestamp (catalog360's) are never judged stale. Default 0: off.
	MaxEventAge time.Duration `yaml:"max_event_age"`
	// MaxBody, when > 0, is this source's own body limit in place of
	// server.max_body (larger bodies get 413): IIMMPACT's are about 1KB,
	// and a lower limit keeps unauthenticated uploads to it small.
	// Default 0: server.max_body.
	MaxBody ByteSize `yaml:"max_body"`
}

// BodyLimit is the largest body the source takes: its max_body, else
// server.max_body.
func (c *Config) BodyLimit(source string) ByteSize {
	if src := c.Sources[source]; src != nil && src.MaxBody > 0 {
		return src.MaxBody
	}
	return c.Server.MaxBody
}

// SubscriberConfig is one internal consumer.
type SubscriberConfig struct {
	Name string `yaml:"-"`
	// Kind is how deliveries are sent: KindHTTP (the default, a signed
	// POST to URL) or a queue destination registered with
	// RegisterDestination (redis_stream, nats, kafka), whose broker URL
	// is the URL and which publishes to Topic.
	Kind        string            `yaml:"kind"`
	URL         string            `yaml:"url"`
	Addrs       []string          `yaml:"addrs"`   // more broker addresses, host:port (kafka)
	Topic       string            `yaml:"topic"`   // stream key, JetStream subject or Kafka topic
	Secrets     []Secret          `yaml:"secret"`  // whsec_<base64>; one or a list (rotation); a scalar in YAML is a one-item list
	Events      []string          `yaml:"events"`  // default ["**"]
	Sources     []string          `yaml:"sources"` // default: all sources
	Timeout     time.Duration     `yaml:"timeout"`
	MaxInFlight int               `yaml:"max_in_flight"`
	Headers     map[string]string `yaml:"headers"`
	Retry       RetryConfig       `yaml:"retry"`
	Breaker     BreakerConfig     `yaml:"breaker"`
	RateLimit   RateLimit         `yaml:"rate_limit"` // zero: no limit
	Ordering    string            `yaml:"ordering"`   // OrderingNone (default) or OrderingSubject
	// Filter is a CEL expression over the envelope as `event`; events it
	// does not pass get no delivery. Blank (BlankFilter): every routed
	// event passes.
	Filter string `yaml:"filter"`
	// Backfill, when > 0, is how far back the retained events go that are
	// queued for this subscriber, once, when its name first appears in the
	// store (at start or on a reload); at most store.retention. Default 0:
	// off. A name seen before is never backfilled.
	Backfill time.Duration `yaml:"backfill"`
	// Transform is a CEL expression over the envelope as `event` whose
	// value is sent as the envelope's data in place of the stored data,
	// evaluated at each attempt. Blank (BlankFilter): data sent as stored.
	Transform string `yaml:"transform"`
	// TLS is the client certificate (mTLS) and the CA for an https URL;
	// zero: the system's roots, no client certificate.
	TLS ClientTLSConfig `yaml:"tls"`
	// Auth authenticates each request; zero: none.
	Auth AuthConfig `yaml:"auth"`

	// SigningKeys are the decoded Secrets, in order; filled by validation.
	SigningKeys Keys `yaml:"-"`
	// Patterns are the compiled Events; filled by validation.
	Patterns []Pattern `yaml:"-"`
	// CompiledFilter is Filter compiled, nil without one; filled by
	// validation.
	CompiledFilter Filter `yaml:"-" json:"-"`
	// CompiledTransform is Transform compiled, nil without one; filled by
	// validation.
	CompiledTransform Transform `yaml:"-" json:"-"`
}

// ClientTLSConfig is a subscriber's TLS as a client: CertFile and KeyFile
// (set together) are the certificate presented to a server that asks for
// one; CAFile, when set, replaces the system's roots for verifying the
// server. The files are read again when they change, for new connections.
type ClientTLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	CAFile   string `yaml:"ca_file"`
}

// Set reports whether any file is named.
func (t ClientTLSConfig) Set() bool { return t != ClientTLSConfig{} }

// AuthConfig authenticates a subscriber's requests.
type AuthConfig struct {
	OAuth2 *OAuth2Config `yaml:"oauth2"` // nil: none
}

// OAuth2Config is an OAuth 2.0 client-credentials grant (RFC 6749 4.4):
// the access token it yields goes in each request's Authorization header.
type OAuth2Config struct {
	TokenURL     string   `yaml:"token_url"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret Secret   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
}

// Equal reports whether a and b configure the same grant (nil: none).
func (a *OAuth2Config) Equal(b *OAuth2Config) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.TokenURL == b.TokenURL && a.ClientID == b.ClientID && a.ClientSecret == b.ClientSecret &&
		slices.Equal(a.Scopes, b.Scopes)
}

// Values of SubscriberConfig.Ordering.
const (
	// OrderingNone: deliveries are attempted as they come due, up to
	// max_in_flight at once.
	OrderingNone = "none"
	// OrderingSubject: per subject, one delivery at a time, in receipt
	// order (Store's doc).
	OrderingSubject = "subject"
)

// RetryConfig bounds a subscriber's retries.
type RetryConfig struct {
	MaxAttempts    int           `yaml:"max_attempts"`    // default 10
	InitialBackoff time.Duration `yaml:"initial_backoff"` // default 2s
	MaxBackoff     time.Duration `yaml:"max_backoff"`     // default 10m
	MaxAge         time.Duration `yaml:"max_age"`         // default 24h
}

// BreakerConfig tunes a subscriber's circuit breaker.
type BreakerConfig struct {
	ConsecutiveFailures int           `yaml:"consecutive_failures"` // default 5
	Cooldown            time.Duration `yaml:"cooldown"`             // default 30s
}

// Secret is a string that never prints: String, GoString, MarshalJSON and
// MarshalText (which YAML encoders use) all redact it. Use Reveal to get
// the value.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String redacts the secret.
func (s Secret) String() string { return redacted }

// GoString redacts the secret.
func (s Secret) GoString() string { return redacted }

// MarshalJSON redacts the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText redacts the secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Keys are decoded signing keys. Like Secret they never print: String,
// GoString and MarshalJSON redact them, so a config dumped with %+v or as
// JSON shows no key material.
type Keys [][]byte

// String redacts the keys.
func (k Keys) String() string { return redacted }

// GoString redacts the keys.
func (k Keys) GoString() string { return redacted }

// MarshalJSON redacts the keys.
func (k Keys) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// ByteSize is a size in bytes; in YAML a number or a string with a KB or MB
// (1024-based) suffix: "5MB".
type ByteSize int64
