package routes_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// panicky is a provider with a bug that a genuine payload triggers.
type panicky struct{}

func (panicky) Decode(gateway.Request, [][]byte) (gateway.Batch, error) { panic("provider bug") }
func (panicky) Sign(body, secret []byte) (string, string)               { return "X-Sig", "x" }

func init() { gateway.RegisterProvider("routes-test-panicky", panicky{}) }

// A panic in a handler answers 503 (the provider retries; nothing was
// stored) and the process, and the listener, live on.
func TestPanicAnswers503(t *testing.T) {
	e := newEnv(t)
	cfg := *e.in.Config()
	cfg.Sources = map[string]*gateway.SourceConfig{
		"buggy": {Name: "buggy", Provider: "routes-test-panicky", Secrets: []gateway.Secret{"s"}},
	}
	if err := e.in.SetConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		status, body := do(t, e.public, webhook("buggy", "{}", ""))
		if status != http.StatusServiceUnavailable {
			t.Fatalf("request %d: status = %d, want 503 (body %s)", i, status, body)
		}
	}
	if status, _ := do(t, e.public, httptest.NewRequest(http.MethodGet, "/healthz", nil)); status != http.StatusOK {
		t.Errorf("healthz after panics = %d, want 200", status)
	}
}
