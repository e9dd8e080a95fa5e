package config_test

import (
	"strings"
	"testing"
)

// withSub is minimal plus a valid subscriber "s" whose keys start at line 9.
func withSub(extra string) string {
	return minimal + "subscribers:\n  s:\n    url: https://x.example/h\n    secret: " + whsec + "\n" + extra
}

// subWithout is minimal plus subscriber "s" (line 6) holding only body.
func subWithout(body string) string {
	return minimal + "subscribers:\n  s:\n" + body
}

// checkErrLines fails unless got has exactly one line per want, each
// starting with the wanted text (the rest, such as lists of registered
// providers, may vary).
func checkErrLines(t *testing.T, got, want []string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(got[i], want[i])
	}
	if !ok {
		t.Errorf("errors:\n  %s\nwant (prefixes):\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name string
		src  string
		env  map[string]string
		want []string
	}{
		// subscriber vs store
		{name: "subscriber sources empty list", src: withSub("    sources: []\n"),
			want: []string{"config.yaml:9: subscribers.s.sources: empty list matches no source"}},
		{name: "max_age beyond retention", src: "store:\n  retention: 1h\n  dedupe_window: 1h\n" + withSub(""),
			want: []string{"config.yaml:9: subscribers.s.retry.max_age: 24h0m0s is longer than store.retention (1h0m0s)"}},
		// sources
		{name: "no sources", src: "server:\n  listen: 127.0.0.1:8080\n",
			want: []string{"config.yaml: sources: at least one source is required"}},
		{name: "empty file", src: "",
			want: []string{"config.yaml: sources: at least one source is required"}},
		{name: "empty sources", src: "sources: {}\n",
			want: []string{"config.yaml:1: sources: at least one source is required"}},
		{name: "bad source name", src: "sources:\n  Bad_Name:\n    provider: iimmpact\n    secrets: [x]\n",
			want: []string{"config.yaml:2: sources.Bad_Name: name must match [a-z0-9][a-z0-9_-]*"}},
		{name: "source name starting with dash", src: "sources:\n  -x:\n    provider: iimmpact\n    secrets: [x]\n",
			want: []string{"config.yaml:2: sources.-x: name must match"}},
		{name: "unknown provider", src: "sources:\n  a:\n    provider: nope\n    secrets: [x]\n",
			want: []string{`config.yaml:3: sources.a.provider: unknown provider "nope" (known: [`}},
		{name: "missing provider", src: "sources:\n  a:\n    secrets: [x]\n",
			want: []string{"config.yaml:2: sources.a.provider: required (known: "}},
		{name: "no secrets", src: "sources:\n  a:\n    provider: iimmpact\n",
			want: []string{"config.yaml:2: sources.a.secrets: at least one secret is required"}},
		{name: "empty secret list", src: "sources:\n  a:\n    provider: iimmpact\n    secrets: []\n",
			want: []string{"config.yaml:4: sources.a.secrets: at least one secret is required"}},
		{name: "secret from unset env", src: "sources:\n  iimmpact:\n    provider: iimmpact\n    secrets: [\"${IIMMPACT_WEBHOOK_SECRET}\"]\n",
			want: []string{"config.yaml:4: sources.iimmpact.secrets[0]: empty secret (IIMMPACT_WEBHOOK_SECRET is unset)"}},
		{name: "secret from empty env", src: "sources:\n  iimmpact:\n    provider: iimmpact\n    secrets: [\"${K}\"]\n",
			env:  map[string]string{"K": ""},
			want: []string{"config.yaml:4: sources.iimmpact.secrets[0]: empty secret (K is set but empty)"}},
		{name: "second secret empty", src: "sources:\n  iimmpact:\n    provider: iimmpact\n    secrets: [\"${A}\", \"${B}\"]\n",
			env:  map[string]string{"A": "a-secret"},
			want: []string{"config.yaml:4: sources.iimmpact.secrets[1]: empty secret (B is unset)"}},
		{name: "block list secret from unset env", src: "sources:\n  iimmpact:\n    provider: iimmpact\n    secrets:\n      - ${A}\n",
			want: []string{"config.yaml:5: sources.iimmpact.secrets[0]: empty secret (A is unset)"}},
		{name: "secret with a line break", src: "sources:\n  iimmpact:\n    provider: iimmpact\n    secrets: [\"${K}\"]\n",
			env:  map[string]string{"K": "TOPSECRET\nmore: yaml"},
			want: []string{"config.yaml:4: ${K}: value contains a line break, which config values may not"}},
		{name: "literal empty secret", src: "sources:\n  iimmpact:\n    provider: iimmpact\n    secrets: [\"\"]\n",
			want: []string{"config.yaml:4: sources.iimmpact.secrets[0]: empty secret"}},

		// subscribers
		{name: "bad subscriber name", src: minimal + "subscribers:\n  Search:\n    url: https://x.example/h\n    secret: " + whsec + "\n",
			want: []string{"config.yaml:6: subscribers.Search: name must match [a-z0-9][a-z0-9_-]*"}},
		{name: "url missing", src: subWithout("    secret: " + whsec + "\n"),
			want: []string{"config.yaml:6: subscribers.s.url: required (an absolute http or https URL)"}},
		{name: "url relative", src: subWithout("    url: /hooks\n    secret: " + whsec + "\n"),
			want: []string{"config.yaml:7: subscribers.s.url: must be an absolute http or https URL"}},
		{name: "url not http", src: subWithout("    url: ftp://x.example/h\n    secret: " + whsec + "\n"),
			want: []string{"config.yaml:7: subscribers.s.url: must be an absolute http or https URL"}},
		{name: "url without host", src: subWithout("    url: 'http:///h'\n    secret: " + whsec + "\n"),
			want: []string{"config.yaml:7: subscribers.s.url: must be an absolute http or https URL"}},
		{name: "secret missing", src: subWithout("    url: https://x.example/h\n"),
			want: []string{"config.yaml:6: subscribers.s.secret: required: whsec_<base64>, or a list of them for rotation"}},
		{name: "secret unquoted from unset env", src: subWithout("    url: https://x.example/h\n    secret: ${SUB_SECRET}\n"),
			want: []string{"config.yaml:8: subscribers.s.secret: required: whsec_<base64>, or a list of them for rotation (SUB_SECRET is unset)"}},
		{name: "secret quoted from unset env", src: subWithout("    url: https://x.example/h\n    secret: \"${SUB_SECRET}\"\n"),
			want: []string{"config.yaml:8: subscribers.s.secret[0]: empty secret (SUB_SECRET is unset)"}},
		{name: "secret without prefix", src: subWithout("    url: https://x.example/h\n    secret: abcdefghijklmnopqrstuvwxyz\n"),
			want: []string{"config.yaml:8: subscribers.s.secret[0]: must start with whsec_ followed by base64"}},
		{name: "secret bad base64", src: subWithout("    url: https://x.example/h\n    secret: whsec_!!notbase64!!\n"),
			want: []string{"config.yaml:8: subscribers.s.secret[0]: is not valid base64 after whsec_"}},
		{name: "secret too short", src: subWithout("    url: https://x.example/h\n    secret: whsec_c2hvcnQ=\n"),
			want: []string{"config.yaml:8: subscribers.s.secret[0]: key is 5 bytes; at least 16 are required"}},
		{name: "second secret in list bad", src: subWithout("    url: https://x.example/h\n    secret:\n      - " + whsec + "\n      - whsec_\n"),
			want: []string{"config.yaml:10: subscribers.s.secret[1]: key is 0 bytes; at least 16 are required"}},
		{name: "bad pattern", src: withSub("    events: [\"iimmpact.**\", \"iimmpact.product*\"]\n"),
			want: []string{`config.yaml:9: subscribers.s.events[1]: pattern "iimmpact.product*"`}},
		{name: "empty pattern segment", src: withSub("    events:\n      - iimmpact..x\n"),
			want: []string{`config.yaml:10: subscribers.s.events[0]: pattern "iimmpact..x" has an empty segment`}},
		{name: "no patterns", src: withSub("    events: []\n"),
			want: []string{"config.yaml:9: subscribers.s.events: must list at least one pattern (leave events out for all events)"}},
		{name: "unknown source", src: withSub("    sources: [iimmpact, nope]\n"),
			want: []string{`config.yaml:9: subscribers.s.sources[1]: unknown source "nope" (configured: iimmpact)`}},
		{name: "a source named hookgate", src: minimal + "  hookgate:\n    provider: iimmpact\n    secrets: [k]\n",
			want: []string{`config.yaml:5: sources.hookgate: "hookgate" is the source of the gateway's own events; name this source otherwise`}},
		{name: "timeout zero", src: withSub("    timeout: 0s\n"),
			want: []string{"config.yaml:9: subscribers.s.timeout: must be > 0"}},
		{name: "timeout negative", src: withSub("    timeout: -1s\n"),
			want: []string{"config.yaml:9: subscribers.s.timeout: must be > 0"}},
		{name: "max_in_flight zero", src: withSub("    max_in_flight: 0\n"),
			want: []string{"config.yaml:9: subscribers.s.max_in_flight: must be >= 1"}},
		{name: "retry all zero", src: withSub("    retry:\n      max_attempts: 0\n      initial_backoff: 0s\n      max_backoff: 0s\n      max_age: 0s\n"),
			want: []string{
				"config.yaml:10: subscribers.s.retry.max_attempts: must be >= 1",
				"config.yaml:11: subscribers.s.retry.initial_backoff: must be > 0",
				"config.yaml:12: subscribers.s.retry.max_backoff: must be > 0",
				"config.yaml:13: subscribers.s.retry.max_age: must be > 0",
			}},
		{name: "initial above max backoff", src: withSub("    retry: {initial_backoff: 2m, max_backoff: 1m}\n"),
			want: []string{"config.yaml:9: subscribers.s.retry.initial_backoff: 2m0s is more than max_backoff (1m0s)"}},
		{name: "initial above default max backoff", src: withSub("    retry: {initial_backoff: 1h}\n"),
			want: []string{"config.yaml:9: subscribers.s.retry.initial_backoff: 1h0m0s is more than max_backoff (10m0s)"}},
		{name: "breaker zero", src: withSub("    breaker: {consecutive_failures: 0, cooldown: 0s}\n"),
			want: []string{
				"config.yaml:9: subscribers.s.breaker.consecutive_failures: must be >= 1",
				"config.yaml:9: subscribers.s.breaker.cooldown: must be > 0",
			}},
		{name: "headers", src: withSub("    headers:\n      X-Ok: fine\n      Bad Header: x\n      content-type: text/plain\n      Webhook-Signature: v1,x\n      User-Agent: me\n      Host: elsewhere\n"),
			want: []string{
				"config.yaml:11: subscribers.s.headers.Bad Header: not a valid header name",
				"config.yaml:12: subscribers.s.headers.content-type: is set by hookgate and cannot be configured",
				"config.yaml:13: subscribers.s.headers.Webhook-Signature: is set by hookgate and cannot be configured",
				"config.yaml:14: subscribers.s.headers.User-Agent: is set by hookgate and cannot be configured",
				"config.yaml:15: subscribers.s.headers.Host: is set by hookgate and cannot be configured",
			}},
		{name: "header value with line break", src: withSub("    headers: {X-A: \"a\\r\\nX-Injected: 1\"}\n"),
			want: []string{"config.yaml:9: subscribers.s.headers.X-A: value contains a line break or NUL"}},
		{name: "header value with a control character", src: withSub("    headers: {X-A: \"a\\x1bb\"}\n"),
			want: []string{"config.yaml:9: subscribers.s.headers.X-A: value contains a control character, which no request may carry"}},
		{name: "hop-by-hop headers", src: withSub("    headers:\n      Transfer-Encoding: chunked\n      connection: close\n      Content-Encoding: gzip\n"),
			want: []string{
				"config.yaml:10: subscribers.s.headers.Transfer-Encoding: describes the connection or the body's framing, which the HTTP client sets; it cannot be configured",
				"config.yaml:11: subscribers.s.headers.connection: describes the connection or the body's framing, which the HTTP client sets; it cannot be configured",
				"config.yaml:12: subscribers.s.headers.Content-Encoding: describes the connection or the body's framing, which the HTTP client sets; it cannot be configured",
			}},

		// server, admin, store
		{name: "tls cert only", src: minimal + "server:\n  tls: {cert_file: cert.pem}\n",
			want: []string{"config.yaml:6: server.tls: cert_file and key_file must be set together (both: HTTPS, neither: HTTP)"}},
		{name: "tls key only", src: minimal + "server:\n  tls:\n    key_file: key.pem\n",
			want: []string{"config.yaml:6: server.tls: cert_file and key_file must be set together"}},
		{name: "listen without port", src: minimal + "server:\n  listen: \"8080\"\n",
			want: []string{`config.yaml:6: server.listen: must be host:port, got "8080"`}},
		{name: "listen empty", src: minimal + "server:\n  listen: \"\"\n",
			want: []string{"config.yaml:6: server.listen: required (host:port, e.g. 127.0.0.1:8080)"}},
		{name: "listen port out of range", src: minimal + "server:\n  listen: 127.0.0.1:70000\n",
			want: []string{`config.yaml:6: server.listen: port must be a number from 0 to 65535, got "70000"`}},
		{name: "listen named port", src: minimal + "admin:\n  listen: localhost:http\n",
			want: []string{`config.yaml:6: admin.listen: port must be a number from 0 to 65535, got "http"`}},
		{name: "max_body zero", src: minimal + "server:\n  max_body: 0\n",
			want: []string{"config.yaml:6: server.max_body: must be > 0"}},
		{name: "redis addrs not host:port", src: minimal + "store:\n  redis:\n    url: redis://a:6379\n    addrs: [\"b:6379\", \"nope\"]\n",
			want: []string{`config.yaml:8: store.redis.addrs[1]: must be host:port, got "nope"`}},
		{name: "redis seeds in the URL", src: minimal + "store:\n  redis:\n    url: redis://a:6379?addr=b:6379\n",
			want: []string{"config.yaml:7: store.redis.url: addr= and master_name= in the URL are replaced by store.redis.addrs and store.redis.master_name"}},
		{name: "log level", src: minimal + "log:\n  level: verbose\n  format: yaml\n",
			want: []string{`config.yaml:6: log.level: want debug, info, warn or error, got "verbose"`,
				`config.yaml:7: log.format: want json, text or auto, got "yaml"`}},
		{name: "max_pending_bytes zero", src: minimal + "server:\n  max_pending_bytes: 0\n",
			want: []string{"config.yaml:6: server.max_pending_bytes: must be > 0"}},
		{name: "max_pending_bytes below max_body", src: minimal + "server:\n  max_body: 5MB\n  max_pending_bytes: 1MB\n",
			want: []string{"config.yaml:7: server.max_pending_bytes: 1MB is less than server.max_body (5MB)"}},
		{name: "per-client limits negative", src: minimal + "server:\n  max_pending_bytes_per_client: -1\n  max_conns_per_client: -1\n  min_upload_rate: -1KB/s\n",
			want: []string{`config.yaml:6: server.max_pending_bytes_per_client: invalid size "-1"`,
				"config.yaml:7: server.max_conns_per_client: must be >= 0",
				`config.yaml:8: server.min_upload_rate: invalid rate "-1KB/s"`}},
		{name: "per-client share below max_body", src: minimal + "server:\n  max_body: 5MB\n  max_pending_bytes_per_client: 1MB\n  max_conns_per_client: -1\n",
			want: []string{"config.yaml:7: server.max_pending_bytes_per_client: 1MB is less than the largest max_body (5MB)",
				"config.yaml:8: server.max_conns_per_client: must be >= 0"}},
		{name: "per-client share below a source's max_body", src: minimal + "    max_body: 20MB\nserver:\n  max_pending_bytes: 64MB\n",
			want: []string{"config.yaml:6: server.max_pending_bytes_per_client: 16MB is less than the largest max_body (20MB)"}},
		{name: "source max_body past the budget", src: minimal + "    max_body: 10MB\nserver:\n  max_pending_bytes: 8MB\n  max_pending_bytes_per_client: 0\n",
			want: []string{"config.yaml:5: sources.iimmpact.max_body: 10MB is more than server.max_pending_bytes (8MB)"}},
		{name: "source max_body negative", src: minimal + "    max_body: -1\n",
			want: []string{"config.yaml:5: sources.iimmpact.max_body: invalid size"}},
		{name: "max_event_age negative", src: minimal + "    max_event_age: -1s\n",
			want: []string{"config.yaml:5: sources.iimmpact.max_event_age: must be >= 0"}},
		{name: "max_event_age inside iimmpact's retries", src: minimal + "    max_event_age: 5m\n",
			want: []string{"config.yaml:5: sources.iimmpact.max_event_age: 5m0s is shorter than the 15m0s iimmpact retries an event for"}},
		{name: "catalog360 test key as secret", src: "sources:\n  c:\n    provider: catalog360\n    secrets: [\"test-webhook\"]\n",
			want: []string{`config.yaml:4: sources.c.secrets[0]: "test-webhook" is catalog360's public registration-test key`}},
		{name: "admin on all interfaces without token", src: minimal + "admin:\n  listen: 0.0.0.0:9090\n",
			want: []string{"config.yaml:5: admin.token: required when admin.listen is not a loopback address"}},
		{name: "admin on empty host without token", src: minimal + "admin:\n  listen: \":9090\"\n",
			want: []string{"config.yaml:5: admin.token: required when admin.listen is not a loopback address"}},
		{name: "admin token from unset env", src: minimal + "admin:\n  listen: 10.0.0.1:9090\n  token: \"${HOOKGATE_ADMIN_TOKEN:-}\"\n",
			want: []string{"config.yaml:7: admin.token: required when admin.listen is not a loopback address (HOOKGATE_ADMIN_TOKEN is unset)"}},
		{name: "redis block empty", src: minimal + "store:\n  redis: {}\n",
			want: []string{"config.yaml:6: store.redis.url: required when store.redis is present"}},
		{name: "redis block null", src: minimal + "store:\n  redis:\n",
			want: []string{"config.yaml:6: store.redis.url: required when store.redis is present"}},
		{name: "redis url from unset env", src: minimal + "store:\n  redis:\n    url: ${REDIS_URL}\n",
			want: []string{"config.yaml:7: store.redis.url: required when store.redis is present (REDIS_URL is unset)"}},
		{name: "redis prefix empty", src: minimal + "store:\n  redis: {url: \"redis://localhost\", prefix: \"\"}\n",
			want: []string{"config.yaml:6: store.redis.prefix: must not be empty"}},
		{name: "store path empty", src: minimal + "store:\n  path: \"\"\n",
			want: []string{"config.yaml:6: store.path: required when there is no store.redis block"}},
		{name: "retention zero", src: minimal + "store:\n  retention: 0s\n",
			want: []string{"config.yaml:6: store.retention: must be > 0"}},
		{name: "dedupe zero", src: minimal + "store:\n  dedupe_window: 0s\n",
			want: []string{"config.yaml:6: store.dedupe_window: must be > 0"}},
		{name: "admin token too short", src: minimal + "admin:\n  listen: 0.0.0.0:9090\n  token: weak-tok\n",
			want: []string{"config.yaml:7: admin.token: must be at least 16 characters, got 8"}},
		{name: "admin token of one letter on loopback", src: minimal + "admin:\n  token: a\n",
			want: []string{"config.yaml:6: admin.token: must be at least 16 characters, got 1"}},
		{name: "admin token blank", src: minimal + "admin:\n  token: \" \"\n",
			want: []string{"config.yaml:6: admin.token: must not contain whitespace or control characters"}},
		{name: "admin token with a space", src: minimal + "admin:\n  token: \"weak-tok weak-tok weak-tok\"\n",
			want: []string{"config.yaml:6: admin.token: must not contain whitespace or control characters"}},
		{name: "admin token with a trailing space from env", src: minimal + "admin:\n  token: \"${T}\"\n",
			env:  map[string]string{"T": "weak-tok-weak-tok-weak-tok "},
			want: []string{"config.yaml:6: admin.token: must not contain whitespace or control characters"}},
		{name: "admin token with a control character", src: minimal + "admin:\n  token: \"weak-tok-weak-tok\\u007f\"\n",
			want: []string{"config.yaml:6: admin.token: must not contain whitespace or control characters"}},
		{name: "admin tls half", src: minimal + "admin:\n  tls: {cert_file: c.pem}\n",
			want: []string{"config.yaml:6: admin.tls: cert_file and key_file must be set together"}},
		{name: "dedupe longer than retention", src: minimal + "store:\n  retention: 24h\n  dedupe_window: 48h\n",
			want: []string{"config.yaml:7: store.dedupe_window: 48h0m0s is longer than store.retention (24h0m0s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errLines(t, tt.src, tt.env)
			checkErrLines(t, got, tt.want)
			// Secrets never appear in errors: the admin tokens above
			// all hold "weak-tok".
			for _, line := range got {
				if strings.Contains(line, "weak-tok") {
					t.Errorf("error quotes the token: %s", line)
				}
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		src  string
		env  map[string]string
	}{
		{name: "minimal", src: minimal},
		{name: "admin on ::1", src: minimal + "admin:\n  listen: \"[::1]:9090\"\n"},
		{name: "admin on localhost", src: minimal + "admin:\n  listen: localhost:9090\n"},
		{name: "admin on 127.0.0.2", src: minimal + "admin:\n  listen: 127.0.0.2:9090\n"},
		{name: "admin public with token", src: minimal + "admin:\n  listen: 0.0.0.0:9090\n  token: ${T}\n",
			env: map[string]string{"T": "tok-0123456789abcdef"}},
		{name: "admin tls both", src: minimal + "admin:\n  listen: 0.0.0.0:9090\n  token: 0123456789abcdef\n  tls: {cert_file: c.pem, key_file: k.pem}\n"},
		{name: "admin token of any printable characters", src: minimal + "admin:\n  token: \"Ab1+/=-._~!é✓0123456\"\n"},
		{name: "listen on all interfaces, port 0", src: minimal + "server:\n  listen: \":0\"\n"},
		{name: "tls both", src: minimal + "server:\n  tls: {cert_file: c.pem, key_file: k.pem}\n"},
		{name: "dedupe equal to retention", src: minimal + "store:\n  retention: 24h\n  dedupe_window: 24h\n"},
		{name: "header allowed", src: withSub("    headers: {X-Team: search, Authorization: Bearer x}\n")},
		{name: "names with digits, dash, underscore", src: "sources:\n  0a-b_c:\n    provider: iimmpact\n    secrets: [x]\n"},
		{name: "secret with dollar", src: "sources:\n  a:\n    provider: iimmpact\n    secrets: [\"pa$$word\"]\n"},
		{name: "null keeps defaults", src: withSub("    timeout:\n    events:\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustParse(t, tt.src, tt.env)
		})
	}
}
