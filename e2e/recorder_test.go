package e2e

import (
	"bytes"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The recorder is the judge of every delivery test, so it is tested
// itself: it accepts what the official library signs with each of its
// secrets, flags anything else, and answers as scripted.
func TestRecorder(t *testing.T) {
	t.Parallel()
	r := newRecorder(t, "self", 2)
	body := []byte(`{"specversion":"1.0","id":"evt_1","source":"iimmpact","type":"iimmpact.product.updated","subject":"product/X","time":"2024-01-15T10:30:00Z","datacontenttype":"application/json","data":{"object":{"a":1}}}`)

	send := func(sigs []string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, r.url(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/cloudevents+json")
		req.Header.Set("User-Agent", "hookgate/test")
		req.Header.Set("webhook-id", "evt_1")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
		req.Header.Set("webhook-signature", strings.Join(sigs, " "))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	sign := func(secret string) string {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		s, err := wh.Sign("evt_1", time.Now(), body)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := []string{sign(r.secrets[0]), sign(r.secrets[1])}

	r.answer(503, 400)
	var got []int
	for range 3 {
		got = append(got, send(good))
	}
	if want := []int{503, 400, 200}; !reflect.DeepEqual(got, want) {
		t.Errorf("scripted answers: got %v, want %v", got, want)
	}
	r.setMode(downClose)
	if code := send(good); code != 0 {
		t.Errorf("down (closing connections): got %d, want a transport error", code)
	}
	r.setMode(up)
	if c := r.copies("evt_1"); c != 1 {
		t.Errorf("copies: got %d, want 1 (only the 200 counts)", c)
	}
	if got, want := r.answered("evt_1"), []int{503, 400, 200, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("answered: got %v, want %v", got, want)
	}
	if _, ok := r.find("iimmpact.product.updated", "product/X"); !ok {
		t.Errorf("find: the delivered envelope is not found")
	}

	r.mu.Lock()
	problems := r.problems
	r.problems = nil
	r.mu.Unlock()
	if len(problems) != 0 {
		t.Fatalf("correctly signed requests flagged: %v", problems)
	}

	// Signed with only one of the two secrets: the second verification fails.
	send(good[:1])
	r.mu.Lock()
	problems = r.problems
	r.problems = nil
	r.mu.Unlock()
	if len(problems) != 1 || !strings.Contains(problems[0], "secret #2") {
		t.Errorf("a request lacking the second secret's signature: got problems %q, want one about secret #2", problems)
	}
}
