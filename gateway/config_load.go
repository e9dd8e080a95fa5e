package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults for the blocks other than subscribers (whose defaults are the
// Default* constants in config.go).
const (
	DefaultListen      = "127.0.0.1:8080"
	DefaultAdminListen = "127.0.0.1:9090"
	DefaultMaxBody     = 5 * MB
	DefaultMaxPending  = 64 * MB
	// DefaultMaxPendingPerClient is a quarter of DefaultMaxPending: one
	// client address cannot hold more than that of the body budget.
	DefaultMaxPendingPerClient = 16 * MB
	// DefaultMaxConnsPerClient is an eighth of the connections the public
	// listener serves at once (2048).
	DefaultMaxConnsPerClient = 256
	// DefaultMinUploadRate: a provider uploads far faster; an attacker
	// holding budget with a trickle must spend this much bandwidth per
	// connection.
	DefaultMinUploadRate ByteRate = 16 << 10
	DefaultStorePath              = "./data"
	DefaultRedisPrefix            = "hookgate"
	DefaultRetention              = 168 * time.Hour
	DefaultDedupeWindow           = 72 * time.Hour
	// DefaultTombstoneWindow: a month past retention, a replayed capture
	// is still refused; see StoreConfig.TombstoneWindow.
	DefaultTombstoneWindow = 720 * time.Hour
)

// DefaultConfig returns a Config holding every default and no sources or
// subscribers. It is not valid by itself: a config needs a source.
func DefaultConfig() *Config {
	return &Config{
		Server: ServerConfig{Listen: DefaultListen, MaxBody: DefaultMaxBody, MaxPendingBytes: DefaultMaxPending,
			MaxPendingBytesPerClient: DefaultMaxPendingPerClient, MaxConnsPerClient: DefaultMaxConnsPerClient,
			MinUploadRate: DefaultMinUploadRate},
		Admin: AdminConfig{Listen: DefaultAdminListen},
		Log:   LogConfig{Level: "info", Format: "auto"},
		Store: StoreConfig{
			Path:            DefaultStorePath,
			Retention:       DefaultRetention,
			DedupeWindow:    DefaultDedupeWindow,
			TombstoneWindow: DefaultTombstoneWindow,
		},
	}
}

// SetDefaults fills every subscriber setting that has a default: events
// ["**"], timeout, max_in_flight, retry and breaker. It overwrites, so call
// it on a new SubscriberConfig before setting fields.
func (s *SubscriberConfig) SetDefaults() {
	s.Events = []string{"**"}
	s.Timeout = DefaultTimeout
	s.MaxInFlight = DefaultMaxInFlight
	s.Retry = RetryConfig{
		MaxAttempts:    DefaultMaxAttempts,
		InitialBackoff: DefaultInitialBackoff,
		MaxBackoff:     DefaultMaxBackoff,
		MaxAge:         DefaultMaxAge,
	}
	s.Breaker = BreakerConfig{ConsecutiveFailures: DefaultConsecutiveFailures, Cooldown: DefaultCooldown}
}

// SetDefaults fills the Redis key prefix. It overwrites, so call it on a
// new RedisConfig before setting fields.
func (r *RedisConfig) SetDefaults() { r.Prefix = DefaultRedisPrefix }

// LoadConfig reads, expands, parses and validates the config file at path,
// taking ${VAR} values from the process environment. A file with problems
// yields ConfigErrors listing all of them.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(path, data, os.LookupEnv)
}

// ParseConfig builds a Config from data, the content of the file at path
// (used in error messages and as Config.Path): ${VAR} and ${VAR:-default}
// are expanded with env (nil means os.LookupEnv), defaults are applied, the
// YAML is decoded strictly, and the result validated. On any problem it
// returns nil and ConfigErrors holding every problem found, each naming the
// file, line and key; no message carries a secret's value.
func ParseConfig(path string, data []byte, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	exp := expandEnv(path, data, env)
	d := &decoder{file: path, lines: map[string]int{}, vals: map[string][2]int{}}
	cfg := DefaultConfig()
	cfg.Path = path

	errs := ConfigErrors(exp.errs)
	root, err := parseDocument(exp.data)
	if err != nil {
		// Without a tree there is nothing to decode or validate.
		errs = append(errs, yamlSyntaxError(path, err))
	} else {
		if root != nil {
			d.decode(root, reflect.ValueOf(cfg).Elem(), "")
		}
		v := &validator{file: path, lines: d.lines, vals: d.vals, hint: exp.emptyHint}
		v.config(cfg)
		errs = append(errs, d.errs...)
		errs = append(errs, unexplained(v.errs, exp.errs, d.errs)...)
	}
	if len(errs) > 0 {
		errs.sortByPlace()
		return nil, errs
	}
	return cfg, nil
}

// unexplained drops the validation errors that an earlier error already
// explains: those on a line whose ${VAR} could not be expanded, and those
// under a key that did not decode (its value is a default or partial; a
// top level that is not a mapping explains everything). The rest are
// reported too, so that one run shows every problem.
func unexplained(found, envErrs, decodeErrs []*ConfigError) []*ConfigError {
	var out []*ConfigError
	for _, e := range found {
		explained := false
		for _, x := range envErrs {
			explained = explained || x.Line == e.Line
		}
		for _, x := range decodeErrs {
			explained = explained || x.Key == "" || e.Key == x.Key ||
				strings.HasPrefix(e.Key, x.Key+".") || strings.HasPrefix(e.Key, x.Key+"[")
		}
		if !explained {
			out = append(out, e)
		}
	}
	return out
}

// parseDocument parses data into a node tree and returns the top-level
// node, or nil for an empty file. More than one YAML document is an error:
// the others would be silently ignored.
func parseDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("yaml: line %d: only one YAML document is allowed", more.Line)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlSyntaxError places a yaml.v3 syntax error, which carries its line
// only in its text ("yaml: line 3: did not find expected key").
func yamlSyntaxError(path string, err error) *ConfigError {
	msg := err.Error()
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil {
		return &ConfigError{File: path, Err: err}
	}
	n, _ := strconv.Atoi(m[1])
	msg = strings.TrimPrefix(msg, m[0])
	return &ConfigError{File: path, Line: n, Err: fmt.Errorf("invalid YAML: %s", msg)}
}

// Redacted renders the config as YAML with every secret replaced by
// "[redacted]": Secret fields, subscriber header values (often
// credentials) and passwords in subscriber URLs. Safe to log or show in
// the admin API.
func (c *Config) Redacted() string {
	shown := *c
	shown.Subscribers = make(map[string]*SubscriberConfig, len(c.Subscribers))
	for name, sub := range c.Subscribers {
		if sub == nil {
			continue
		}
		cp := *sub
		if u, err := url.Parse(cp.URL); err == nil {
			cp.URL = u.Redacted()
		}
		cp.Headers = make(map[string]string, len(sub.Headers))
		for k := range sub.Headers {
			cp.Headers[k] = redacted
		}
		shown.Subscribers[name] = &cp
	}
	var doc yaml.Node
	if err := doc.Encode(&shown); err != nil {
		return fmt.Sprintf("config: %v", err)
	}
	if r := c.Store.Redis; r != nil {
		// min_replicas as the file writes it: auto, or the count as an
		// int, which the decoder requires.
		if n := mappingValue(&doc, "store", "redis", "min_replicas"); n != nil {
			tag := "!!str"
			if r.MinReplicas.Fixed {
				tag = "!!int"
			}
			*n = yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: r.MinReplicas.String()}
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return fmt.Sprintf("config: %v", err)
	}
	return string(out)
}

// mappingValue returns the node at path in a tree of mappings, or nil.
func mappingValue(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		var next *yaml.Node
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}
