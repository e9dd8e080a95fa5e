package storetest

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// testRecordResponse: the response excerpt of a failed attempt comes back
// as recorded, in the event's history and in Dead, whatever the texts hold
// (the separators a store might use among them), and an attempt without
// one comes back without one. The first attempt after a manual
// redelivery keeps both its mark and its excerpt.
func testRecordResponse(t *testing.T, h harness) {
	s := h.store(t)
	put(t, s, newEvent("evt_resp", "src1", "src1.product.updated", at(0), "sub-a"))
	full := strings.Repeat("é|x", gateway.MaxResponseExcerpt/4) // 1020 bytes
	resps := []*gateway.AttemptResponse{
		{ContentType: "text/plain; charset=utf-8", Body: "signature does not verify"},
		nil, // a timeout: no answer
		{ContentType: "application/json|x", Body: full},
		{ContentType: "", Body: ""}, // an empty answer is still an answer
	}
	errs := []string{"HTTP 401", "timeout after 10s", "HTTP 400 | odd", "HTTP 410"}
	now := at(0)
	for i, r := range resps {
		c := claimOne(t, s, "sub-a", now)
		o := retrying(now.Add(time.Second), now.Add(time.Minute), errs[i])
		if i == len(resps)-1 {
			o = dead(now.Add(time.Second), errs[i])
		}
		o.Attempt.Response = r
		record(t, s, c, o)
		now = now.Add(time.Minute)
		if i == 1 {
			// A manual redelivery between the second and third attempts.
			if _, err := s.Redeliver(context.Background(), "evt_resp", "sub-a", now); err != nil {
				t.Fatalf("Redeliver: %v", err)
			}
		}
	}
	check := func(where string, hist []gateway.Attempt) {
		t.Helper()
		if len(hist) != len(resps) {
			t.Fatalf("%s: %d attempts, want %d", where, len(hist), len(resps))
		}
		for i, a := range hist {
			if !reflect.DeepEqual(a.Response, resps[i]) {
				t.Errorf("%s: attempt %d Response = %+v, want %+v", where, i+1, a.Response, resps[i])
			}
			if a.Error != errs[i] {
				t.Errorf("%s: attempt %d Error = %q, want %q", where, i+1, a.Error, errs[i])
			}
			if a.N != i+1 || a.Redelivered != (i == 2) {
				t.Errorf("%s: attempt %d: N = %d, Redelivered = %v", where, i+1, a.N, a.Redelivered)
			}
		}
	}
	check("Event", delivery(t, s, "evt_resp", "sub-a").History)
	deads, err := s.Dead(context.Background(), "sub-a", gateway.DeadFilter{Limit: 10})
	if err != nil || len(deads) != 1 {
		t.Fatalf("Dead = %d records, %v; want 1", len(deads), err)
	}
	check("Dead", deads[0].History)
}
