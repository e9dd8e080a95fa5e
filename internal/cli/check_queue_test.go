package cli

import (
	"strings"
	"testing"
)

// A queue subscriber is printed with its kind, addrs and topic, its URL
// without the password; a bad kind fails check at its line.
func TestCheckQueueDestination(t *testing.T) {
	cfg := filterCheckConfig + `  lake:
    kind: kafka
    url: kafka://k1.internal:9092
    addrs: [k2.internal:9092]
    topic: catalog-events
    secret: ` + checkSecret + `
  audit:
    kind: redis_stream
    url: redis://:Queue-Passw0rd@q.internal:6379/0
    topic: audit
    secret: ` + checkSecret + `
`
	stdout, stderr, code := check(t, "-config", writeConfig(t, cfg))
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"  lake\n    url:     kafka://k1.internal:9092\n    kind:    kafka\n    addrs:   k2.internal:9092\n    topic:   catalog-events\n",
		"  audit\n    url:     redis://redacted@q.internal:6379/0\n    kind:    redis_stream\n    topic:   audit\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks\n%s\nin:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "Queue-Passw0rd") {
		t.Error("check prints the broker password")
	}

	bad := strings.Replace(cfg, "kind: kafka", "kind: sqs", 1)
	_, stderr, code = check(t, "-config", writeConfig(t, bad))
	if code != exitError || !strings.Contains(stderr, ":20: subscribers.lake.kind: must be http | kafka | nats | redis_stream") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}
