package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// upstream is what the providers send, signed as they sign it.
var upstream = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	},
}

// url is path on g's public listener, over HTTPS when it has a
// certificate.
func (g *gateway) url(path string) string {
	if g.tlsClient != nil {
		return "https://" + g.listen + path
	}
	return "http://" + g.listen + path
}

// client is what upstream requests to g go through: one that trusts g's
// certificate when it serves HTTPS.
func (g *gateway) client() *http.Client {
	if g.tlsClient != nil {
		return g.tlsClient
	}
	return upstream
}

func mac(key string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(key))
	h.Write(body)
	return h.Sum(nil)
}

// signIimmpact is IIMMPACT's X-Webhook-Signature value.
func signIimmpact(secret string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, body))
}

// signC360 is catalog360's X-C360-Signature value.
func signC360(key string, body []byte) string {
	return base64.StdEncoding.EncodeToString(mac(key, body))
}

// iimmpactEvent is one IIMMPACT webhook body.
type iimmpactEvent struct {
	Type      string          `json:"type"`
	Resource  string          `json:"resource"`
	ID        string          `json:"id"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

func (e iimmpactEvent) body() []byte {
	b, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	return b
}

// product is an IIMMPACT product.updated event for id, made unique by n.
func product(id string, n int) iimmpactEvent {
	ts := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC).Add(time.Duration(n) * time.Millisecond)
	return iimmpactEvent{
		Type:      "product.updated",
		Resource:  "products",
		ID:        id,
		Timestamp: ts.Format("2006-01-02T15:04:05.000Z"),
		Data:      json.RawMessage(fmt.Sprintf(`{"code":%q,"name":"Celcom RM10","price":10.5,"n":%d,"tags":["prepaid","celcom"]}`, id, n)),
	}
}

// post sends body to path on g's public listener and returns the status
// and the response body; a transport error is returned as status 0.
func (g *gateway) post(path string, body []byte, header http.Header) (int, string, error) {
	return postFrom(g.client(), g, path, body, header)
}

// postFrom is gateway.post through client.
func postFrom(client *http.Client, g *gateway, path string, body []byte, header http.Header) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, g.url(path), bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// sendIimmpact posts body to /webhooks/iimmpact signed with secret.
func (g *gateway) sendIimmpact(secret string, body []byte) (int, string, error) {
	return g.post("/webhooks/iimmpact", body, http.Header{"X-Webhook-Signature": {signIimmpact(secret, body)}})
}

// sendC360 posts body to /webhooks/catalog360 signed with key.
func (g *gateway) sendC360(key string, body []byte) (int, string, error) {
	return g.post("/webhooks/catalog360", body, http.Header{"X-C360-Signature": {signC360(key, body)}})
}

// mustAccept sends e signed with the current secret and fails unless 200.
func (g *gateway) mustAccept(e iimmpactEvent) {
	g.t.Helper()
	code, msg, err := g.sendIimmpact(iimmpactSecret, e.body())
	if err != nil || code != http.StatusOK {
		g.t.Fatalf("POST /webhooks/iimmpact %s %s: got %d %q (%v), want 200", e.Type, e.ID, code, msg, err)
	}
}

// c360Event is one event of a catalog360 batch.
type c360Event struct {
	EventClass   string         `json:"event_class"`
	PayloadClass string         `json:"payload_class"`
	Payload      map[string]any `json:"payload"`
	DeliveryNo   int            `json:"delivery_no,omitempty"` // an extra field, kept by the gateway
}

// c360Batch is a catalog360 webhook body.
func c360Batch(events []c360Event) []byte {
	if events == nil {
		events = []c360Event{}
	}
	b, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		panic(err)
	}
	return b
}

// eventID is the id of the stored event with the given type and subject,
// as the admin API lists it. Ids are the gateway's business: tests learn
// them from the admin API or from what subscribers receive, never compute
// them.
func (g *gateway) eventID(t *testing.T, typ, subject string) string {
	t.Helper()
	var page eventPage
	g.adminGet(t, "/admin/api/events?limit=500&type="+typ, &page)
	for _, e := range page.Events {
		if e.Subject == subject {
			return e.ID
		}
	}
	t.Fatalf("no stored event of type %s, subject %s, among %d listed", typ, subject, len(page.Events))
	return ""
}
