package config_test

import (
	"testing"
	"time"
)

// TestParseConfigStrict covers what the decoder refuses: unknown keys at
// every depth, wrong types, duplicate keys and malformed YAML, each placed
// by line and key.
func TestParseConfigStrict(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{name: "unknown top-level key", src: minimal + "serve:\n  listen: x\n",
			want: []string{"config.yaml:5: serve: unknown key (known: server, admin, log, store, sources, subscribers)"}},
		{name: "unknown key in server", src: "server:\n  listn: 127.0.0.1:1\n" + minimal,
			want: []string{"config.yaml:2: server.listn: unknown key (known: listen, tls, max_body, max_pending_bytes, max_pending_bytes_per_client, max_conns_per_client, min_upload_rate)"}},
		{name: "unknown key in tls", src: minimal + "server:\n  tls: {cert: x}\n",
			want: []string{"config.yaml:6: server.tls.cert: unknown key (known: cert_file, key_file)"}},
		{name: "unknown key in a source", src: "sources:\n  iimmpact:\n    provider: iimmpact\n    secret: x\n",
			want: []string{
				"config.yaml:2: sources.iimmpact.secrets: at least one secret is required",
				"config.yaml:4: sources.iimmpact.secret: unknown key (known: provider, secrets, max_event_age, max_body)",
			}},
		{name: "unknown key in redis", src: minimal + "store:\n  redis:\n    url: redis://x\n    db: 1\n",
			want: []string{"config.yaml:8: store.redis.db: unknown key (known: url, addrs, master_name, prefix, partitions, min_replicas)"}},
		{name: "unknown key deep in a subscriber", src: withSub("    retry:\n      max_attempt: 3\n"),
			want: []string{"config.yaml:10: subscribers.s.retry.max_attempt: unknown key (known: max_attempts, initial_backoff, max_backoff, max_age)"}},
		{name: "derived fields are not keys", src: withSub("    signingkeys: x\n"),
			want: []string{"config.yaml:9: subscribers.s.signingkeys: unknown key"}},
		{name: "every unknown key", src: "a: 1\nsources:\n  x:\n    b: 2\n    provider: iimmpact\n    secrets: [k]\nc: 3\n",
			want: []string{
				"config.yaml:1: a: unknown key",
				"config.yaml:4: sources.x.b: unknown key",
				"config.yaml:7: c: unknown key",
			}},
		{name: "duration without unit", src: withSub("    timeout: 10\n"),
			want: []string{`config.yaml:9: subscribers.s.timeout: invalid duration (want e.g. 1500ms, 2m, 168h)`}},
		{name: "duration garbage", src: minimal + "store:\n  retention: a week\n",
			want: []string{`config.yaml:6: store.retention: invalid duration`}},
		{name: "size garbage", src: minimal + "server:\n  max_body: 5 megs\n",
			want: []string{`config.yaml:6: server.max_body: invalid size "5 megs" (want bytes, or a number with KB or MB: 5MB)`}},
		{name: "size negative", src: minimal + "server:\n  max_body: -5MB\n",
			want: []string{`config.yaml:6: server.max_body: invalid size "-5MB"`}},
		{name: "integer garbage", src: withSub("    max_in_flight: many\n"),
			want: []string{`config.yaml:9: subscribers.s.max_in_flight: must be an integer`}},
		{name: "integer as float", src: withSub("    max_in_flight: 1.5\n"),
			want: []string{`config.yaml:9: subscribers.s.max_in_flight: must be an integer`}},
		{name: "integer quoted", src: withSub("    max_in_flight: \"4\"\n"),
			want: []string{`config.yaml:9: subscribers.s.max_in_flight: must be an integer`}},
		{name: "block is a list", src: minimal + "server: [a]\n",
			want: []string{"config.yaml:5: server: must be a mapping of keys, got a list"}},
		{name: "block is a scalar", src: minimal + "admin: yes\n",
			want: []string{"config.yaml:5: admin: must be a mapping of keys, got a scalar"}},
		{name: "sources is a list", src: "sources: [iimmpact]\n",
			want: []string{"config.yaml:1: sources: must be a mapping of names, got a list"}},
		{name: "secrets is a mapping", src: "sources:\n  a:\n    provider: iimmpact\n    secrets: {k: v}\n",
			want: []string{"config.yaml:4: sources.a.secrets: must be a list, got a mapping"}},
		{name: "string is a list", src: subWithout("    url: [a]\n    secret: " + whsec + "\n"),
			want: []string{"config.yaml:7: subscribers.s.url: must be a string, got a list"}},
		{name: "events is a scalar", src: withSub("    events: \"**\"\n"),
			want: []string{"config.yaml:9: subscribers.s.events: must be a list, got a scalar"}},
		{name: "headers is a list", src: withSub("    headers: [X-A]\n"),
			want: []string{"config.yaml:9: subscribers.s.headers: must be a mapping of names, got a list"}},
		{name: "duplicate source", src: minimal + "  iimmpact:\n    provider: iimmpact\n    secrets: [y]\n",
			want: []string{"config.yaml:5: sources.iimmpact: duplicate key (first at line 2)"}},
		{name: "duplicate key in a block", src: withSub("    timeout: 1s\n    timeout: 2s\n"),
			want: []string{"config.yaml:10: subscribers.s.timeout: duplicate key (first at line 9)"}},
		{name: "top level is a list", src: "- a\n",
			want: []string{"config.yaml:1: must be a mapping of keys, got a list"}},
		{name: "syntax error", src: minimal + "subscribers:\n  s: [\n",
			want: []string{"config.yaml:6: invalid YAML: column 6: did not find expected node content"}},
		{name: "tab indentation", src: "sources:\n\tiimmpact: {}\n",
			want: []string{"config.yaml:2: invalid YAML: column 1: found character that cannot start any token"}},
		{name: "two documents", src: minimal + "---\nsources: {}\n",
			want: []string{"config.yaml:5: invalid YAML: only one YAML document is allowed"}},
		{name: "decode and validation errors together", src: "sources:\n  a:\n    provider: iimmpact\n    secrets: [\"${NOPE}\"]\n    extra: 1\n" +
			"subscribers:\n  s:\n    url: /rel\n    secret: " + whsec + "\n    timeout: soon\n    max_in_flight: 0\n",
			want: []string{
				"config.yaml:4: sources.a.secrets[0]: empty secret (NOPE is unset)",
				"config.yaml:5: sources.a.extra: unknown key",
				"config.yaml:8: subscribers.s.url: must be an absolute http or https URL",
				"config.yaml:10: subscribers.s.timeout: invalid duration",
				"config.yaml:11: subscribers.s.max_in_flight: must be >= 1",
			}},
		{name: "no validation noise under a block that did not decode", src: "sources: [a]\nsubscribers:\n  s:\n    url: https://x.example/h\n    secret: " + whsec + "\n    retry: {max_attempts: x, max_age: 0s}\n",
			want: []string{
				"config.yaml:1: sources: must be a mapping of names, got a list",
				"config.yaml:6: subscribers.s.retry.max_age: must be > 0",
				"config.yaml:6: subscribers.s.retry.max_attempts: must be an integer",
			}},
		{name: "alias loop", src: minimal + "server: &s {<<: *s}\n",
			want: []string{"config.yaml:5: server: alias *s refers to itself"}},
		{name: "alias bomb", src: "x1: &a {cert_file: c}\n" +
			"x2: &b {<<: [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]}\n" +
			"x3: &c {<<: [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]}\n" +
			"x4: &d {<<: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]}\n" +
			"x5: &e {<<: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]}\n" +
			"x6: &f {<<: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]}\n" +
			"server:\n  tls: {<<: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]}\n" + minimal,
			want: []string{
				"config.yaml:1: too many values (aliases expand to over 100000)",
				"config.yaml:1: x1: unknown key",
				"config.yaml:2: x2: unknown key",
				"config.yaml:3: x3: unknown key",
				"config.yaml:4: x4: unknown key",
				"config.yaml:5: x5: unknown key",
				"config.yaml:6: x6: unknown key",
			}},
		{name: "env error and decode error together", src: minimal + "server:\n  listen: ${UNTERMINATED\n  nope: 1\n",
			want: []string{
				"config.yaml:6: unterminated ${ (write $$ for a literal $)",
				"config.yaml:7: server.nope: unknown key",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrLines(t, errLines(t, tt.src, nil), tt.want)
		})
	}
}

// Aliases are plain YAML and resolve like the value they point at.
func TestParseConfigAliases(t *testing.T) {
	cfg := mustParse(t, minimal+`subscribers:
  a:
    url: https://a.example/h
    secret: &key `+whsec+`
    retry: &retry {max_attempts: 3}
  b:
    url: https://b.example/h
    secret: *key
    retry: *retry
`, nil)
	if got := cfg.Subscribers["b"]; got.Retry.MaxAttempts != 3 || len(got.SigningKeys) != 1 {
		t.Errorf("subscriber b = %+v, want the aliased secret and retry", got)
	}
}

// Merge keys share settings between subscribers; a block's own keys win.
func TestParseConfigMergeKeys(t *testing.T) {
	cfg := mustParse(t, minimal+`subscribers:
  a:
    url: https://a.example/h
    secret: `+whsec+`
    retry: &retry {max_attempts: 3, max_age: 1h}
  b:
    <<: {url: https://b.example/h, timeout: 5s}
    secret: `+whsec+`
    timeout: 2s
    retry:
      <<: *retry
      max_age: 2h
`, nil)
	b := cfg.Subscribers["b"]
	if b.URL != "https://b.example/h" || b.Timeout != 2*time.Second || b.Retry.MaxAttempts != 3 || b.Retry.MaxAge != 2*time.Hour {
		t.Errorf("subscriber b = %+v, want url and retry merged, own timeout and max_age kept", b)
	}
	lines := errLines(t, minimal+"server:\n  <<: {listen: x, nope: 1}\n", nil)
	checkErrLines(t, lines, []string{
		`config.yaml:6: server.listen: must be host:port, got "x"`,
		"config.yaml:6: server.nope: unknown key",
	})
}
