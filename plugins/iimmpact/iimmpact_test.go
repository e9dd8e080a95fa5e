package iimmpact

import (
	"errors"
	"net/http"
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/plugins/providertest"
)

// katBody and katHeader are a known answer computed with
//
//	printf '%s' "$body" | openssl dgst -sha256 -hmac iimmpact-known-answer-secret
const (
	katBody   = `{"type":"product.updated","resource":"products","id":"CELCOM10","timestamp":"2024-01-15T10:30:00.000Z","data":{"product_code":"CELCOM10","name":"Celcom Prepaid","is_active":true}}`
	katSecret = "iimmpact-known-answer-secret"
	katHeader = "sha256=e7240503c5c92c2f6e364a1a367ef520801e3b0374b4b5ba13acc8f35221addc"
)

// kit describes the provider to the conformance suite and the fuzzer.
var kit = providertest.Kit{
	Name:     Name,
	Provider: Provider{},
	Header:   Header,
	Vectors:  []providertest.Vector{{Name: "spec example", Body: katBody, Secret: katSecret, Header: katHeader}},
	MalformedHeaders: []string{
		"e7240503c5c92c2f6e364a1a367ef520801e3b0374b4b5ba13acc8f35221addc", // no prefix
		"sha1=e7240503c5c92c2f6e364a1a367ef520801e3b0374b4b5ba13acc8f35221addc",
		"sha256:e7240503c5c92c2f6e364a1a367ef520801e3b0374b4b5ba13acc8f35221addc",
		"sha256=e7240503c5c92c2f6e364a1a367ef520801e3b0374b4b5ba13acc8f35221addg", // not hex
		"sha256=5yQFA8XJLC9uNkoaNn71IIAeOwN0tLW6E6zI81Ihrdw=",                     // base64, not hex
	},
}

func TestConformance(t *testing.T) { providertest.Run(t, kit) }

func TestRegistered(t *testing.T) {
	p, err := gateway.LookupProvider(Name)
	if err != nil {
		t.Fatalf("LookupProvider(%q): %v", Name, err)
	}
	if _, ok := p.(Provider); !ok {
		t.Errorf("LookupProvider(%q) = %T, want Provider", Name, p)
	}
}

// decode signs body with a fixed key and decodes it.
func decode(t *testing.T, body string) (gateway.Batch, error) {
	t.Helper()
	secret := []byte("iimmpact-test-secret")
	name, value := Provider{}.Sign([]byte(body), secret)
	h := http.Header{}
	h.Set(name, value)
	return Provider{}.Decode(gateway.Request{Header: h, Body: []byte(body)}, [][]byte{secret})
}

func TestDeleteHasNullObjectAndSubject(t *testing.T) {
	b, err := decode(t, `{"type":"option.deleted","resource":"options","id":"CELCOM_XPAX_DATA_3D","timestamp":"2024-01-15T11:06:00.000Z","data":null}`)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(b.Events) != 1 {
		t.Fatalf("got %d events, want 1", len(b.Events))
	}
	ev := b.Events[0]
	if ev.Type != "iimmpact.option.deleted" || ev.Subject != "option/CELCOM_XPAX_DATA_3D" {
		t.Errorf("Type, Subject = %q, %q, want iimmpact.option.deleted, option/CELCOM_XPAX_DATA_3D", ev.Type, ev.Subject)
	}
	if len(ev.Object) != 0 && string(ev.Object) != "null" {
		t.Errorf("Object = %s, want null", ev.Object)
	}
	if ev.Previous != nil {
		t.Errorf("Previous = %s, want nil", ev.Previous)
	}
	env := gateway.NewEnvelope("iimmpact", ev, ev.Time)
	if string(env.Data.Object) != "null" {
		t.Errorf("envelope object = %s, want null", env.Data.Object)
	}
}

func TestSpecExample(t *testing.T) {
	b, err := decode(t, katBody)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	ev := b.Events[0]
	want := gateway.Event{
		Identity: "15:product.updated8:products8:CELCOM1024:2024-01-15T10:30:00.000Z",
		Type:     "iimmpact.product.updated",
		Subject:  "product/CELCOM10",
	}
	if ev.Identity != want.Identity || ev.Type != want.Type || ev.Subject != want.Subject {
		t.Errorf("got %q %q %q, want %q %q %q", ev.Identity, ev.Type, ev.Subject, want.Identity, want.Type, want.Subject)
	}
	if got := ev.Time.UTC().Format("2006-01-02T15:04:05.000Z"); got != "2024-01-15T10:30:00.000Z" {
		t.Errorf("Time = %s, want 2024-01-15T10:30:00.000Z", got)
	}
	if got, want := string(ev.Object), `{"product_code":"CELCOM10","name":"Celcom Prepaid","is_active":true}`; got != want {
		t.Errorf("Object = %s, want %s", got, want)
	}
}

func TestSingular(t *testing.T) {
	tests := []struct{ in, want string }{
		{"products", "product"},
		{"options", "option"},
		{"categories", "category"},
		{"groups", "group"},
		{"inventories", "inventory"},
		{"vouchers", "voucher"},
		{"pin", "pin"},
		{"s", "s"},
		{"ies", "ie"},
	}
	for _, tt := range tests {
		if got := singular(tt.in); got != tt.want {
			t.Errorf("singular(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestIdentityUnambiguous checks that moving characters between fields
// changes the identity, which a plain separator would not guarantee.
func TestIdentityUnambiguous(t *testing.T) {
	a := identity("product.updated", "products", "A|B", "2024-01-15T10:30:00.000Z")
	b := identity("product.updated", "products|A", "B", "2024-01-15T10:30:00.000Z")
	if a == b {
		t.Errorf("identity collides for different fields: %q", a)
	}
}

func TestNoUsableSecretIsSignatureError(t *testing.T) {
	h := http.Header{}
	_, v := Provider{}.Sign([]byte(katBody), []byte(katSecret))
	h.Set(Header, v)
	_, err := Provider{}.Decode(gateway.Request{Header: h, Body: []byte(katBody)}, nil)
	if !errors.Is(err, gateway.ErrSignature) {
		t.Errorf("Decode with no secrets: err = %v, want ErrSignature", err)
	}
}
