package catalog360

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"github.com/hookgate/hookgate/plugins/providertest"
)

// Known answers computed outside Go:
//
//	printf '%s' "$body" | openssl dgst -sha256 -hmac "$key" -binary | base64
//	printf '%s' "$element" | sha256sum
const (
	katBody     = `{"events":[{"event_class":"assetitem_updated","payload_class":"assetitem","payload":{"old":{"id":"ai_1001","status":"draft"},"new":{"id":"ai_1001","status":"published"}}}]}`
	katSecret   = "catalog360-known-answer-key"
	katHeader   = "hn6c9m+gFQekykfMd/gfBk87014rRJm0w2q8mcHrlWM="
	katIdentity = "f3b36cfee8db8c6b4d691dfc525d3241fe1c301b00ae5514cb902840cb045992"

	pingBody   = `{"events":[]}`
	pingHeader = "b4A0arevFYtlj9Rgd6u+9mYbqBfISe95Ez54k4pZuj8=" // key "test-webhook"
)

// kit describes the provider to the conformance suite and the fuzzer.
var kit = providertest.Kit{
	Name:     Name,
	Provider: Provider{},
	Header:   Header,
	Vectors: []providertest.Vector{
		{Name: "spec example", Body: katBody, Secret: katSecret, Header: katHeader},
	},
	MalformedHeaders: []string{
		"hn6c9m+gFQekykfMd/gfBk87014rRJm0w2q8mcHrlWM",  // unpadded
		"hn6c9m-gFQekykfMd_gfBk87014rRJm0w2q8mcHrlWM=", // URL alphabet
		"hn6c9m+gFQekykfMd/gfBk87014rRJm0w2q8mcHrlWN=", // non-zero padding bits
		"sha256=hn6c9m+gFQekykfMd/gfBk87014rRJm0w2q8mcHrlWM=",
		"867e9cf66fa01507a4ca47cc77f81f064f3bd35e2b4499b4c36abc99c1eb9563", // hex
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

var secret = []byte("catalog360-test-secret")

// request builds a request carrying body under the given header value.
func request(body, value string) gateway.Request {
	h := http.Header{}
	h.Set(Header, value)
	return gateway.Request{Header: h, Body: []byte(body)}
}

// decode signs body with key and decodes it against the test secret.
func decode(body string, key []byte) (gateway.Batch, error) {
	_, value := Provider{}.Sign([]byte(body), key)
	return Provider{}.Decode(request(body, value), [][]byte{secret})
}

func TestKnownIdentity(t *testing.T) {
	b, err := Provider{}.Decode(request(katBody, katHeader), [][]byte{[]byte(katSecret)})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(b.Events) != 1 || b.Events[0].Identity != katIdentity {
		t.Fatalf("got %+v, want one event with identity %s", b.Events, katIdentity)
	}
}

// batchOf is a body of n distinct assetitem updates.
func batchOf(n int) string {
	evs := make([]string, n)
	for i := range evs {
		evs[i] = fmt.Sprintf(`{"event_class":"assetitem_updated","payload_class":"assetitem","payload":{"old":{"id":"ai_%d","v":1},"new":{"id":"ai_%d","v":2}}}`, i, i)
	}
	return `{"events":[` + strings.Join(evs, ",") + `]}`
}

func TestBatchLimit(t *testing.T) {
	b, err := decode(batchOf(MaxEvents), secret)
	if err != nil {
		t.Fatalf("batch of %d: %v", MaxEvents, err)
	}
	if len(b.Events) != MaxEvents {
		t.Fatalf("batch of %d: got %d events", MaxEvents, len(b.Events))
	}
	for i, ev := range b.Events {
		if want := fmt.Sprintf("assetitem/ai_%d", i); ev.Subject != want {
			t.Errorf("event %d: Subject = %q, want %q (order kept)", i, ev.Subject, want)
		}
	}
	if _, err := decode(batchOf(MaxEvents+1), secret); !errors.Is(err, gateway.ErrPayload) {
		t.Errorf("batch of %d: err = %v, want ErrPayload", MaxEvents+1, err)
	}
}

func TestRegistrationTest(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		key      []byte
		wantTest bool
		wantErr  error
	}{
		{"empty batch, test key", pingBody, []byte(TestKey), true, nil},
		{"empty batch, spaced, test key", "{ \"events\" : [ ] }", []byte(TestKey), true, nil},
		{"non-empty batch, test key", katBody, []byte(TestKey), false, gateway.ErrSignature},
		{"not JSON, test key", "ping", []byte(TestKey), false, gateway.ErrSignature},
		{"other fields beside the empty batch, test key", `{"events":[],"webhook":"wh_1"}`, []byte(TestKey), true, nil},
		// The test key is public: only the registration test's own shape
		// passes with it, nothing that merely decodes to no events.
		{"empty object, test key", `{}`, []byte(TestKey), false, gateway.ErrSignature},
		{"null, test key", `null`, []byte(TestKey), false, gateway.ErrSignature},
		{"events null, test key", `{"events":null}`, []byte(TestKey), false, gateway.ErrSignature},
		{"events twice, test key", `{"events":[{"x":1}],"events":[]}`, []byte(TestKey), false, gateway.ErrSignature},
		{"events twice, both empty, test key", `{"events":[],"events":[]}`, []byte(TestKey), false, gateway.ErrSignature},
		{"trailing data, test key", `{"events":[]} {}`, []byte(TestKey), false, gateway.ErrSignature},
		{"large body, test key", `{"events":[],"pad":"` + strings.Repeat("a", 8<<10) + `"}`, []byte(TestKey), false, gateway.ErrSignature},
		{"empty batch, real key", pingBody, secret, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := decode(tt.body, tt.key)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if b.Test != tt.wantTest || len(b.Events) != 0 {
				t.Errorf("got Test=%v with %d events, want Test=%v with none", b.Test, len(b.Events), tt.wantTest)
			}
		})
	}

	// The precomputed header, not one made by Sign.
	b, err := Provider{}.Decode(request(pingBody, pingHeader), [][]byte{secret})
	if err != nil || !b.Test {
		t.Errorf("known test-webhook ping: got Test=%v, err %v; want Test, no error", b.Test, err)
	}
	// Without a usable secret the source is misconfigured: fail closed.
	if _, err := (Provider{}).Decode(request(pingBody, pingHeader), [][]byte{{}}); !errors.Is(err, gateway.ErrSignature) {
		t.Errorf("ping with no usable secret: err = %v, want ErrSignature", err)
	}
}

func TestObjectAndPrevious(t *testing.T) {
	tests := []struct {
		name, payload, wantObject, wantPrevious, wantSubject string
	}{
		{"update keeps old as previous", `{"old":{"id":"a","v":1},"new":{"id":"a","v":2}}`, `{"id":"a","v":2}`, `{"id":"a","v":1}`, "assetitem/a"},
		{"creation has no previous", `{"new":{"id":"b"}}`, `{"id":"b"}`, ``, "assetitem/b"},
		{"deletion object is the old state", `{"old":{"id":"c","v":9}}`, `{"id":"c","v":9}`, ``, "assetitem/c"},
		{"id only in old", `{"old":{"id":"d"},"new":{"v":2}}`, `{"v":2}`, `{"id":"d"}`, "assetitem/d"},
		{"numeric id as written", `{"new":{"id":1.50}}`, `{"id":1.50}`, ``, "assetitem/1.50"},
		{"escaped id unquoted", `{"new":{"id":"a\/b\u0021"}}`, `{"id":"a\/b\u0021"}`, ``, "assetitem/a/b!"},
		{"no id, no subject", `{"new":{"sku":"X"}}`, `{"sku":"X"}`, ``, ""},
		{"boolean id, no subject", `{"new":{"id":true}}`, `{"id":true}`, ``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"events":[{"event_class":"assetitem_updated","payload_class":"assetitem","payload":` + tt.payload + `}]}`
			b, err := decode(body, secret)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			ev := b.Events[0]
			if string(ev.Object) != tt.wantObject || string(ev.Previous) != tt.wantPrevious || ev.Subject != tt.wantSubject {
				t.Errorf("Object, Previous, Subject = %s, %s, %q; want %s, %s, %q",
					ev.Object, ev.Previous, ev.Subject, tt.wantObject, tt.wantPrevious, tt.wantSubject)
			}
			if !ev.Time.IsZero() {
				t.Errorf("Time = %v, want zero (receipt time is used)", ev.Time)
			}
		})
	}
}

func TestSplitClass(t *testing.T) {
	tests := []struct {
		event, payload, wantRes, wantAct string
	}{
		{"assetitem_split", "assetitem", "assetitem", "split"},
		{"assetitem_updated", "", "assetitem", "updated"},
		{"asset_item_created", "asset_item", "asset_item", "created"},
		{"asset_item_created", "", "asset_item", "created"},
		{"asset_item_created", "assetitem", "asset_item", "created"},
		{"price_list_bulk_updated", "price_list", "price_list", "bulk_updated"},
		{"published", "bundle", "bundle", "published"},
	}
	for _, tt := range tests {
		res, act, err := splitClass(tt.event, tt.payload)
		if err != nil || res != tt.wantRes || act != tt.wantAct {
			t.Errorf("splitClass(%q, %q) = %q, %q, %v; want %q, %q", tt.event, tt.payload, res, act, err, tt.wantRes, tt.wantAct)
		}
	}
	for _, bad := range [][2]string{{"", "asset"}, {"updated", ""}, {"asset_", ""}, {"_updated", ""}, {"a.b_updated", ""}} {
		if res, act, err := splitClass(bad[0], bad[1]); err == nil {
			t.Errorf("splitClass(%q, %q) = %q, %q, want an error", bad[0], bad[1], res, act)
		}
	}
}

// TestOtherFieldsKept checks that fields catalog360 may add to an event
// change its identity (they are part of its JSON) and objects keep theirs.
func TestOtherFieldsKept(t *testing.T) {
	plain := `{"events":[{"event_class":"asset_updated","payload_class":"asset","payload":{"new":{"id":"as_1","x":{"y":[1,2]}}}}]}`
	extra := `{"events":[{"event_class":"asset_updated","payload_class":"asset","trace":"t-1","payload":{"new":{"id":"as_1","x":{"y":[1,2]}}}}]}`
	a, errA := decode(plain, secret)
	b, errB := decode(extra, secret)
	if errA != nil || errB != nil {
		t.Fatalf("Decode: %v, %v", errA, errB)
	}
	if a.Events[0].Identity == b.Events[0].Identity {
		t.Error("an extra event field did not change the identity")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b.Events[0].Object, &obj); err != nil || string(obj["x"]) != `{"y":[1,2]}` {
		t.Errorf("Object = %s, want the unknown field x kept", b.Events[0].Object)
	}
}

// The public test key is never an account secret: config validation refuses
// it, and a source built in code with it still lets no batch in.
func TestTestKeyIsNotASecret(t *testing.T) {
	if err := (Provider{}).CheckSecret([]byte(TestKey)); err == nil {
		t.Error("CheckSecret(test-webhook) = nil, want an error")
	} else if strings.Contains(err.Error(), string(secret)) {
		t.Errorf("CheckSecret error %q quotes a secret", err)
	}
	if err := (Provider{}).CheckSecret(secret); err != nil {
		t.Errorf("CheckSecret(real key) = %v, want nil", err)
	}
	_, value := Provider{}.Sign([]byte(katBody), []byte(TestKey))
	for _, secrets := range [][][]byte{{[]byte(TestKey)}, {secret, []byte(TestKey)}, {[]byte(TestKey), secret}} {
		if _, err := (Provider{}).Decode(request(katBody, value), secrets); !errors.Is(err, gateway.ErrSignature) {
			t.Errorf("batch signed with the test key, %d secrets incl. the test key: err = %v, want ErrSignature", len(secrets), err)
		}
	}
	// A real key next to it still verifies.
	_, value = Provider{}.Sign([]byte(katBody), secret)
	if _, err := (Provider{}).Decode(request(katBody, value), [][]byte{[]byte(TestKey), secret}); err != nil {
		t.Errorf("batch signed with the real key beside the test key: %v", err)
	}
}
