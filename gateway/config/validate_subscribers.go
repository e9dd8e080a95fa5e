package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/filter"
)

// secretPrefix starts every Standard Webhooks signing secret.
const secretPrefix = "whsec_"

// minKeyLen is the shortest signing key accepted: the Standard Webhooks
// spec asks for 24 to 64 bytes; 16 bytes (128 bits) is the floor below
// which an HMAC key is guessable.
const minKeyLen = 16

// reservedHeaders are set by hookgate on every delivery; a subscriber's
// headers may not replace them, or signatures and framing would break.
var reservedHeaders = map[string]bool{
	"webhook-id":        true,
	"webhook-timestamp": true,
	"webhook-signature": true,
	"content-type":      true,
	"content-length":    true,
	"user-agent":        true,
	"host":              true,
}

// hopHeaders describe one connection or the body's framing and coding,
// which the HTTP client sets itself (a body is sent as is, uncompressed):
// a subscriber's headers naming them would break or misstate every
// request.
var hopHeaders = map[string]bool{
	"connection":        true,
	"keep-alive":        true,
	"proxy-connection":  true,
	"transfer-encoding": true,
	"te":                true,
	"trailer":           true,
	"upgrade":           true,
	"content-encoding":  true,
}

func (v *validator) subscribers(c *gateway.Config) {
	for _, name := range sortedKeys(c.Subscribers) {
		key := "subscribers." + name
		sub := c.Subscribers[name]
		if sub == nil {
			sub = DefaultSubscriber()
			c.Subscribers[name] = sub
		}
		sub.Name = name
		if !nameRE.MatchString(name) {
			v.add(key, "name must match [a-z0-9][a-z0-9_-]*")
		}
		if sub.Kind == "" {
			sub.Kind = gateway.KindHTTP
		}
		if sub.Kind == gateway.KindHTTP {
			v.subscriberURL(key+".url", sub.URL)
			v.httpOnly(key, sub)
		} else {
			v.destination(key, sub)
		}
		sub.SigningKeys = v.signingKeys(key+".secret", sub.Secrets)
		sub.Patterns = v.patterns(key+".events", sub.Events)
		if sub.Sources != nil && len(sub.Sources) == 0 {
			v.add(key+".sources", "empty list matches no source; leave the key out for all sources")
		}
		if sub.Backfill < 0 {
			v.add(key+".backfill", "must be >= 0 (0: off)")
		} else if sub.Backfill > c.Store.Retention && c.Store.Retention > 0 {
			v.add(key+".backfill", "%s is longer than store.retention (%s): older events are no longer kept",
				sub.Backfill, c.Store.Retention)
		}
		if sub.Retry.MaxAge > c.Store.Retention && c.Store.Retention > 0 {
			v.add(key+".retry.max_age", "%s is longer than store.retention (%s): deliveries would outlive their events",
				sub.Retry.MaxAge, c.Store.Retention)
		}
		for i, src := range sub.Sources {
			if _, ok := c.Sources[src]; !ok && src != gateway.OpSource {
				v.add(fmt.Sprintf("%s.sources[%d]", key, i), "unknown source %q (configured: %s)",
					src, strings.Join(sortedKeys(c.Sources), ", "))
			}
		}
		if sub.Timeout <= 0 {
			v.add(key+".timeout", "must be > 0")
		}
		if sub.MaxInFlight < 1 {
			v.add(key+".max_in_flight", "must be >= 1")
		}
		v.retry(key+".retry", sub.Retry)
		if sub.Breaker.ConsecutiveFailures < 1 {
			v.add(key+".breaker.consecutive_failures", "must be >= 1")
		}
		if sub.Breaker.Cooldown <= 0 {
			v.add(key+".breaker.cooldown", "must be > 0")
		}
		v.headers(key+".headers", sub.Headers)
		sub.CompiledFilter = v.filter(key+".filter", sub.Filter)
		sub.CompiledTransform = v.transform(key+".transform", sub.Transform, largestBody(c))
		v.rateLimit(key+".rate_limit", &sub.RateLimit)
		if sub.Kind == gateway.KindHTTP {
			v.subscriberTLS(key+".tls", sub)
			v.subscriberAuth(key+".auth", sub)
		}
		switch sub.Ordering {
		case "":
			sub.Ordering = gateway.OrderingNone
		case gateway.OrderingNone, gateway.OrderingSubject:
		default:
			v.add(key+".ordering", "must be none or subject")
		}
	}
}

// rateLimit checks a rate_limit and fills its default burst.
func (v *validator) rateLimit(key string, r *gateway.RateLimit) {
	if r.Rate == 0 {
		if r.Burst != 0 {
			v.add(key+".burst", "needs a rate (rate_limit: {rate: 200/s, burst: %d})", r.Burst)
		}
		return
	}
	if r.Rate < gateway.MinRate || r.Rate > gateway.MaxRate {
		v.add(key+".rate", "must be between 1/h (%.6f/s) and %.0f/s", float64(gateway.MinRate), float64(gateway.MaxRate))
	}
	switch {
	case r.Burst == 0:
		r.Burst = defaultBurst(r.Rate)
	case r.Burst < 1 || r.Burst > gateway.MaxBurst:
		v.add(key+".burst", "must be between 1 and %d", gateway.MaxBurst)
	}
}

// filter compiles a subscriber's filter, so that check, serve and every
// reload refuse one that does not compile. Blank: no filter.
func (v *validator) filter(key, expr string) gateway.Filter {
	if gateway.BlankFilter(expr) {
		return nil
	}
	f, err := filter.Compile(expr)
	if err != nil {
		v.addAtValue(key, "%v", err)
		return nil
	}
	return f
}

// transform compiles a subscriber's transform, so that check, serve and
// every reload refuse one that does not compile or whose type JSON cannot
// hold. Its value may take as many bytes as the largest body a source
// takes. Blank: no transform.
func (v *validator) transform(key, expr string, maxSize gateway.ByteSize) gateway.Transform {
	if gateway.BlankFilter(expr) {
		return nil
	}
	if maxSize <= 0 {
		maxSize = DefaultMaxBody // server.max_body is wrong, and said so
	}
	t, err := filter.CompileTransform(expr, int(maxSize))
	if err != nil {
		v.addAtValue(key, "%v", err)
		return nil
	}
	return t
}

// subscriberURL checks the delivery URL without quoting it: it may carry
// credentials in its userinfo or query.
func (v *validator) subscriberURL(key, raw string) {
	if raw == "" {
		v.add(key, "required (an absolute http or https URL)%s", v.emptyHint(key))
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(key, "must be an absolute http or https URL")
	}
}

// signingKeys decodes whsec_<base64> secrets into HMAC keys, in order.
func (v *validator) signingKeys(key string, secrets []gateway.Secret) [][]byte {
	if len(secrets) == 0 {
		v.add(key, "required: whsec_<base64>, or a list of them for rotation%s", v.emptyHint(key))
		return nil
	}
	keys := make([][]byte, 0, len(secrets))
	for i, s := range secrets {
		k := fmt.Sprintf("%s[%d]", key, i)
		raw := s.Reveal()
		if raw == "" {
			v.add(k, "empty secret%s", v.emptyHint(k))
			continue
		}
		b64, ok := strings.CutPrefix(raw, secretPrefix)
		if !ok {
			v.add(k, "must start with %s followed by base64", secretPrefix)
			continue
		}
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(b64)
		}
		if err != nil {
			v.add(k, "is not valid base64 after %s", secretPrefix)
			continue
		}
		if len(b) < minKeyLen {
			v.add(k, "key is %d bytes; at least %d are required", len(b), minKeyLen)
			continue
		}
		keys = append(keys, b)
	}
	return keys
}

func (v *validator) patterns(key string, events []string) []gateway.Pattern {
	if len(events) == 0 {
		v.add(key, "must list at least one pattern (leave events out for all events)")
		return nil
	}
	out := make([]gateway.Pattern, 0, len(events))
	for i, e := range events {
		p, err := gateway.ParsePattern(e)
		if err != nil {
			v.add(fmt.Sprintf("%s[%d]", key, i), "%v", err)
			continue
		}
		out = append(out, p)
	}
	return out
}

func (v *validator) retry(key string, r gateway.RetryConfig) {
	if r.MaxAttempts < 1 {
		v.add(key+".max_attempts", "must be >= 1")
	}
	if r.InitialBackoff <= 0 {
		v.add(key+".initial_backoff", "must be > 0")
	}
	if r.MaxBackoff <= 0 {
		v.add(key+".max_backoff", "must be > 0")
	}
	if r.InitialBackoff > 0 && r.MaxBackoff > 0 && r.InitialBackoff > r.MaxBackoff {
		v.add(key+".initial_backoff", "%s is more than max_backoff (%s)", r.InitialBackoff, r.MaxBackoff)
	}
	if r.MaxAge <= 0 {
		v.add(key+".max_age", "must be > 0")
	}
}

// headers checks extra request headers. Values are never quoted: they
// often carry credentials.
func (v *validator) headers(key string, h map[string]string) {
	for _, name := range sortedKeys(h) {
		k := key + "." + name
		switch {
		case !validHeaderName(name):
			v.add(k, "not a valid header name")
		case reservedHeaders[strings.ToLower(name)]:
			v.add(k, "is set by hookgate and cannot be configured")
		case hopHeaders[strings.ToLower(name)]:
			v.add(k, "describes the connection or the body's framing, which the HTTP client sets; it cannot be configured")
		case strings.ContainsAny(h[name], "\r\n\x00"):
			v.add(k, "value contains a line break or NUL")
		case strings.ContainsFunc(h[name], func(r rune) bool { return r != '\t' && (r < 0x20 || r == 0x7f) }):
			v.add(k, "value contains a control character, which no request may carry")
		}
	}
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
