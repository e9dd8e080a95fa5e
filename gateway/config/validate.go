package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hookgate/hookgate/gateway"
)

// MinAdminTokenLength is the shortest admin.token accepted, in characters:
// a token guards every admin change and the metrics, on a listener that
// answers as fast as it is asked (`openssl rand -hex 32` makes one of 64).
const MinAdminTokenLength = 16

// nameRE is what source and subscriber names must match (SPEC 2): they
// appear in URLs, envelope sources, store keys and metric labels.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// validator checks a decoded Config, collecting every problem, and fills
// the derived fields (names, signing keys, compiled patterns).
type validator struct {
	file  string
	lines map[string]int             // key path -> line, from the decoder
	vals  map[string][2]int          // key path -> value line, column
	hint  func(line, col int) string // why a value is empty, if an env var made it so
	errs  []*Error
}

// Validate checks a Config built in code rather than loaded from a file,
// and fills its derived fields (Name, SigningKeys, Patterns,
// CompiledFilter) as loading does. Errors are Errors without line
// numbers.
func Validate(c *gateway.Config) error {
	v := &validator{file: c.Path}
	v.config(c)
	if len(v.errs) > 0 {
		return Errors(v.errs)
	}
	return nil
}

// add records a problem with key, placed at the key's line or, for a key
// the file does not have, at its nearest enclosing key's.
func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Line: v.line(key), Key: key, Err: fmt.Errorf(format, args...)})
}

// addAtValue is add placed at the line where key's value starts, for a
// value that may sit on a line of its own (a block scalar).
func (v *validator) addAtValue(key, format string, args ...any) {
	line := v.line(key)
	if p, ok := v.vals[key]; ok && p[0] > 0 {
		line = p[0]
	}
	v.errs = append(v.errs, &Error{File: v.file, Line: line, Key: key, Err: fmt.Errorf(format, args...)})
}

func (v *validator) line(key string) int {
	for k := key; k != ""; {
		if l, ok := v.lines[k]; ok {
			return l
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// emptyHint says which environment variable left key's value empty, if one
// did: " (IIMMPACT_WEBHOOK_SECRET is unset)".
func (v *validator) emptyHint(key string) string {
	if v.hint == nil {
		return ""
	}
	if p, ok := v.vals[key]; ok {
		if h := v.hint(p[0], p[1]); h != "" {
			return h
		}
	}
	if l, ok := v.lines[key]; ok {
		return v.hint(l, 0)
	}
	return ""
}

func (v *validator) config(c *gateway.Config) {
	v.listen("server.listen", c.Server.Listen)
	if (c.Server.TLS.CertFile == "") != (c.Server.TLS.KeyFile == "") {
		v.add("server.tls", "cert_file and key_file must be set together (both: HTTPS, neither: HTTP)")
	}
	if c.Server.MaxBody <= 0 {
		v.add("server.max_body", "must be > 0")
	}
	if c.Server.MaxPendingBytes <= 0 {
		v.add("server.max_pending_bytes", "must be > 0")
	} else if c.Server.MaxPendingBytes < c.Server.MaxBody {
		v.add("server.max_pending_bytes", "%s is less than server.max_body (%s): a request of max_body could never be taken",
			c.Server.MaxPendingBytes, c.Server.MaxBody)
	}
	if c.Server.MaxPendingBytesPerClient < 0 {
		v.add("server.max_pending_bytes_per_client", "must be >= 0 (0: no per-client share)")
	} else if largest := largestBody(c); c.Server.MaxPendingBytesPerClient > 0 && c.Server.MaxPendingBytesPerClient < largest {
		v.add("server.max_pending_bytes_per_client", "%s is less than the largest max_body (%s): such a request could never be taken (0: no per-client share)",
			c.Server.MaxPendingBytesPerClient, largest)
	}
	if c.Server.MaxConnsPerClient < 0 {
		v.add("server.max_conns_per_client", "must be >= 0 (0: no per-client limit)")
	}
	if c.Server.MinUploadRate < 0 {
		v.add("server.min_upload_rate", "must be >= 0 (0: off)")
	}
	if v.listen("admin.listen", c.Admin.Listen) && c.Admin.Token == "" && !loopback(c.Admin.Listen) {
		v.add("admin.token", "required when admin.listen is not a loopback address%s", v.emptyHint("admin.token"))
	}
	if c.Admin.Token != "" {
		if problem := weakToken(c.Admin.Token.Reveal()); problem != "" {
			v.add("admin.token", "%s", problem)
		}
	}
	if (c.Admin.TLS.CertFile == "") != (c.Admin.TLS.KeyFile == "") {
		v.add("admin.tls", "cert_file and key_file must be set together (both: HTTPS, neither: HTTP)")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text", "auto":
	default:
		v.add("log.format", "want json, text or auto, got %q", c.Log.Format)
	}
	v.store(&c.Store)
	v.sources(c)
	v.subscribers(c)
}

// weakToken says what is wrong with an admin token, or "" when nothing
// is, without ever quoting it: too short to resist guessing, or holding
// whitespace or a control character (a client trims the one and cannot
// send the other in a header, so such a token could never authenticate),
// or bytes that are not UTF-8.
func weakToken(token string) string {
	if !utf8.ValidString(token) {
		return "must be valid UTF-8"
	}
	for _, r := range token {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "must not contain whitespace or control characters (`openssl rand -hex 32` makes a good one)"
		}
	}
	if n := utf8.RuneCountInString(token); n < MinAdminTokenLength {
		return fmt.Sprintf("must be at least %d characters, got %d (`openssl rand -hex 32` makes a good one)", MinAdminTokenLength, n)
	}
	return ""
}

// largestBody is the largest body any source of c takes.
func largestBody(c *gateway.Config) gateway.ByteSize {
	n := c.Server.MaxBody
	for _, src := range c.Sources {
		if src != nil && src.MaxBody > n {
			n = src.MaxBody
		}
	}
	return n
}

// listen checks a host:port listen address and reports whether it is one.
func (v *validator) listen(key, addr string) bool {
	if addr == "" {
		v.add(key, "required (host:port, e.g. 127.0.0.1:8080)")
		return false
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(key, "must be host:port, got %q", addr)
		return false
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.add(key, "port must be a number from 0 to 65535, got %q", port)
		return false
	}
	return true
}

// Loopback reports whether addr's host only accepts connections from this
// machine, in which case the admin API may go without a token.
func Loopback(addr string) bool { return loopback(addr) }

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (v *validator) store(s *gateway.StoreConfig) {
	if s.Redis != nil {
		if s.Redis.URL == "" {
			v.add("store.redis.url", "required when store.redis is present%s", v.emptyHint("store.redis.url"))
		} else if u, err := url.Parse(s.Redis.URL.Reveal()); err == nil && (u.Query().Has("addr") || u.Query().Has("master_name")) {
			v.add("store.redis.url", "addr= and master_name= in the URL are replaced by store.redis.addrs and store.redis.master_name")
		}
		for i, a := range s.Redis.Addrs {
			if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
				v.add(fmt.Sprintf("store.redis.addrs[%d]", i), "must be host:port, got %q", a)
			}
		}
		if s.Redis.Prefix == "" {
			v.add("store.redis.prefix", "must not be empty")
		}
		if s.Redis.Partitions < 0 || s.Redis.Partitions > 1024 {
			v.add("store.redis.partitions", "must be 0 (the store's own, or the default) to 1024, got %d", s.Redis.Partitions)
		}
	} else if s.Path == "" {
		v.add("store.path", "required when there is no store.redis block")
	}
	if s.Retention <= 0 {
		v.add("store.retention", "must be > 0")
	}
	if s.DedupeWindow <= 0 {
		v.add("store.dedupe_window", "must be > 0")
	} else if s.Retention > 0 && s.DedupeWindow > s.Retention {
		v.add("store.dedupe_window", "%s is longer than store.retention (%s): events would be forgotten while still deduplicated against",
			s.DedupeWindow, s.Retention)
	}
	if s.TombstoneWindow < 0 {
		v.add("store.tombstone_window", "must be >= 0 (0s: no tombstones)")
	}
}

func (v *validator) sources(c *gateway.Config) {
	if len(c.Sources) == 0 {
		v.add("sources", "at least one source is required")
		return
	}
	for _, name := range sortedKeys(c.Sources) {
		key := "sources." + name
		src := c.Sources[name]
		if src == nil {
			src = &gateway.SourceConfig{}
			c.Sources[name] = src
		}
		src.Name = name
		if !nameRE.MatchString(name) {
			v.add(key, "name must match [a-z0-9][a-z0-9_-]*")
		} else if name == gateway.OpSource {
			v.add(key, "%q is the source of the gateway's own events; name this source otherwise", gateway.OpSource)
		}
		var p gateway.Provider
		if src.Provider == "" {
			v.add(key+".provider", "required (known: %s)", strings.Join(gateway.ProviderNames(), ", "))
		} else if pr, err := gateway.LookupProvider(src.Provider); err != nil {
			v.add(key+".provider", "%v", err)
		} else {
			p = pr
		}
		if len(src.Secrets) == 0 {
			v.add(key+".secrets", "at least one secret is required%s", v.emptyHint(key+".secrets"))
		}
		for i, s := range src.Secrets {
			k := fmt.Sprintf("%s.secrets[%d]", key, i)
			if s == "" {
				v.add(k, "empty secret%s", v.emptyHint(k))
			} else if sc, ok := p.(gateway.SecretChecker); ok {
				if err := sc.CheckSecret([]byte(s.Reveal())); err != nil {
					v.add(k, "%v", err)
				}
			}
		}
		if src.MaxBody < 0 {
			v.add(key+".max_body", "must be >= 0 (0: server.max_body)")
		} else if c.Server.MaxPendingBytes > 0 && src.MaxBody > c.Server.MaxPendingBytes {
			v.add(key+".max_body", "%s is more than server.max_pending_bytes (%s): such a request could never be taken",
				src.MaxBody, c.Server.MaxPendingBytes)
		}
		if src.MaxEventAge < 0 {
			v.add(key+".max_event_age", "must be >= 0 (0: off)")
		} else if rw, ok := p.(gateway.RetryWindower); ok && src.MaxEventAge > 0 && src.MaxEventAge < rw.RetryWindow() {
			v.add(key+".max_event_age", "%s is shorter than the %s %s retries an event for: its late retries after an outage would be acknowledged and dropped (0s: off)",
				src.MaxEventAge, rw.RetryWindow(), src.Provider)
		}
	}
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
