package config_test

import (
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/gateway/config"
)

// queueSub is minimal plus subscriber "s" (line 6) of the given kind, url
// and topic, its keys from line 7, then extra.
func queueSub(kind, url, topic, extra string) string {
	s := minimal + "subscribers:\n  s:\n    kind: " + kind + "\n    url: " + url + "\n    secret: " + whsec + "\n"
	if topic != "" {
		s += "    topic: " + topic + "\n"
	}
	return s + extra
}

func TestValidateDestinations(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // prefixes; none: valid
	}{
		{name: "redis_stream", src: queueSub("redis_stream", "redis://:pw@q.internal:6379/0", "catalog-events", "")},
		{name: "redis_stream unix", src: queueSub("redis_stream", "unix:///run/redis.sock", "catalog-events", "")},
		{name: "nats with headers", src: queueSub("nats", "nats://u:p@q.internal:4222", "hooks.catalog", "    headers: {X-Team: search}\n")},
		{name: "kafka with addrs", src: queueSub("kafka", "kafka://k1:9092", "catalog-events", "    addrs: [k2:9092, k3:9092]\n")},
		{name: "http kind explicit", src: withSub("    kind: http\n")},
		{name: "unknown kind", src: queueSub("sqs", "https://sqs.example", "t", ""),
			want: []string{"config.yaml:7: subscribers.s.kind: must be http | kafka | nats | redis_stream"}},
		{name: "scheme of another kind", src: queueSub("nats", "redis://q:6379", "t", ""),
			want: []string{"config.yaml:8: subscribers.s.url: must be a broker URL for kind: nats (nats://, tls:// host:port)"}},
		{name: "http url for a queue", src: queueSub("redis_stream", "https://q.example/x", "t", ""),
			want: []string{"config.yaml:8: subscribers.s.url: must be a broker URL for kind: redis_stream"}},
		{name: "topic required", src: queueSub("redis_stream", "redis://q:6379", "", ""),
			want: []string{"config.yaml:6: subscribers.s.topic: required for kind: redis_stream (the stream key)"}},
		{name: "addrs only for kafka", src: queueSub("nats", "nats://q:4222", "s.x", "    addrs: [q2:4222]\n"),
			want: []string{"config.yaml:11: subscribers.s.addrs: not for kind: nats"}},
		{name: "addr without port", src: queueSub("kafka", "kafka://k1:9092", "t", "    addrs: [k2]\n"),
			want: []string{"config.yaml:11: subscribers.s.addrs[0]: must be host:port"}},
		{name: "kafka credentials", src: queueSub("kafka", "kafka://u:secretpw@k1:9092", "t", ""),
			want: []string{"config.yaml:8: subscribers.s.url: credentials (SASL) are not supported for kind: kafka"}},
		{name: "redis headers", src: queueSub("redis_stream", "redis://q:6379", "t", "    headers: {X-Team: a}\n"),
			want: []string{"config.yaml:11: subscribers.s.headers: kind: redis_stream messages carry no headers"}},
		{name: "topic on http", src: withSub("    topic: x\n"),
			want: []string{"config.yaml:9: subscribers.s.topic: only for a queue destination"}},
		{name: "addrs on http", src: withSub("    addrs: [a:1]\n"),
			want: []string{"config.yaml:9: subscribers.s.addrs: only for kind: kafka"}},
		{name: "tls on a queue", src: queueSub("nats", "nats://q:4222", "s.x", "    tls: {ca_file: /etc/ca.pem}\n"),
			want: []string{"config.yaml:11: subscribers.s.tls: not for kind: nats"}},
		{name: "oauth2 on a queue", src: queueSub("kafka", "kafka://k1:9092", "t",
			"    auth:\n      oauth2: {token_url: \"https://a/t\", client_id: c, client_secret: pw}\n"),
			want: []string{"config.yaml:11: subscribers.s.auth: not for kind: kafka"}},
		{name: "topic with space", src: queueSub("nats", "nats://q:4222", "'a b'", ""),
			want: []string{"config.yaml:10: subscribers.s.topic: must not contain spaces"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				mustParse(t, tt.src, nil)
				return
			}
			got := errLines(t, tt.src, nil)
			checkErrLines(t, got, tt.want)
			for _, l := range got {
				if strings.Contains(l, "pw") || strings.Contains(l, "secretpw") {
					t.Errorf("error quotes the url's password: %s", l)
				}
			}
		})
	}
}

func TestDestinationDefaultsAndRedaction(t *testing.T) {
	cfg := mustParse(t, queueSub("redis_stream", "redis://:hunter2pass@q.internal:6379/0", "catalog-events", ""), nil)
	s := cfg.Subscribers["s"]
	if s.Kind != "redis_stream" || s.Topic != "catalog-events" || !s.IsQueue() {
		t.Errorf("kind %q topic %q queue %v", s.Kind, s.Topic, s.IsQueue())
	}
	if got := gateway.RedactURL(s.URL); strings.Contains(got, "hunter2pass") {
		t.Errorf("RedactURL = %s, shows the password", got)
	}
	http := mustParse(t, withSub(""), nil).Subscribers["s"]
	if http.Kind != gateway.KindHTTP || http.IsQueue() {
		t.Errorf("default kind %q, queue %v; want http", http.Kind, http.IsQueue())
	}
}

// Redacted shows no part of a broker URL's userinfo: a NATS token is the
// user name.
func TestRedactedBrokerURL(t *testing.T) {
	cfg := mustParse(t, queueSub("nats", "nats://natstoken0123456789@q.internal:4222", "hooks.catalog", ""), nil)
	if out := config.Redacted(cfg); strings.Contains(out, "natstoken0123456789") || !strings.Contains(out, "nats://redacted@q.internal:4222") {
		t.Errorf("Redacted shows the token or not the broker:\n%s", out)
	}
}
