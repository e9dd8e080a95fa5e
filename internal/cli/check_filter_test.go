package cli

import (
	"strings"
	"testing"
)

const filterCheckConfig = `sources:
  shop:
    provider: checkshop
    secrets: ["TOPSECRET-a"]
  legacy:
    provider: checkplain
    secrets: ["TOPSECRET-c"]
subscribers:
  search:
    url: http://127.0.0.1:8000/search
    secret: ` + checkSecret + `
    events: ["*.product.*"]
    filter: |
      event.type.endsWith(".deleted") ||
        event.data.object.is_active == true
  everything:
    url: http://127.0.0.1:8000/all
    secret: ` + checkSecret + `
`

const filterCheckOutput = `CONFIG: OK

sources:
  NAME    PROVIDER    SECRETS  INGEST
  legacy  checkplain  1        POST /webhooks/legacy
  shop    checkshop   1        POST /webhooks/shop

subscribers:
  everything
    url:     http://127.0.0.1:8000/all
    events:  **
    sources: all
    secrets: 1
  search
    url:     http://127.0.0.1:8000/search
    events:  *.product.*
    sources: all
    secrets: 1
    filter:  event.type.endsWith(".deleted") || event.data.object.is_active == true

routes (event type -> subscribers):
  legacy (checkplain):
    (the provider lists no event types; by pattern:)
    ** -> everything
    *.product.* -> search (filter)
  shop (checkshop):
    checkshop.option.created   -> everything
    checkshop.order.paid       -> everything
    checkshop.product.deleted  -> everything, search (filter)
    checkshop.product.updated  -> everything, search (filter)
  (filter): only the events its filter passes (see subscribers)
`

// A subscriber's filter is printed with it, on one line, and marked in
// the routing table wherever it decides.
func TestCheckFilter(t *testing.T) {
	path := writeConfig(t, filterCheckConfig)
	stdout, stderr, code := check(t, "-config", path)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if want := strings.Replace(filterCheckOutput, "CONFIG", path, 1); stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
}

// A filter with a type error fails check, placed at its line, with CEL's
// reason on the same line.
func TestCheckFilterTypeError(t *testing.T) {
	src := strings.Replace(filterCheckConfig, `event.type.endsWith(".deleted") ||`, `event.type == 3 ||`, 1)
	path := writeConfig(t, src)
	stdout, stderr, code := check(t, "-config", path)
	if code != exitError || stdout != "" {
		t.Fatalf("exit %d, want %d; stdout:\n%s", code, exitError, stdout)
	}
	want := path + ":13: subscribers.search.filter: line 1, column 12: found no matching overload for '_==_' applied to '(string, int)'\n" +
		path + ": 1 error\n"
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
}

// Ordering and a rate limit are printed with their subscriber.
func TestCheckOrderingAndRateLimit(t *testing.T) {
	src := strings.Replace(filterCheckConfig, "    events: [\"*.product.*\"]\n",
		"    events: [\"*.product.*\"]\n    ordering: subject\n    rate_limit: {rate: 100/s, burst: 20}\n", 1)
	path := writeConfig(t, src)
	stdout, stderr, code := check(t, "-config", path)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"    ordering:   subject (one at a time per subject, in receipt order)\n",
		"    rate limit: 100/s, burst 20\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
}
