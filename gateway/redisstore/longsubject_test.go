package redisstore

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

// TestLongSubjectKeys: an ordered event whose subject is 48 KB (a hostile
// upstream id) makes no key longer than a hash of it; its lines are named
// as the embedded store names them, by a hash past gateway.LineSubjectMax.
func TestLongSubjectKeys(t *testing.T) {
	s := openTest(t, "long")
	ctx := context.Background()
	var evs []gateway.NewEvent
	for i, subj := range []string{"product/" + strings.Repeat("x", 48<<10), "product/" + strings.Repeat("x", 48<<10)} {
		e := testEvent(fmt.Sprintf("evt_long%d", i))
		e.Envelope.Subject = subj
		e.Ordered = []string{"sub-a"}
		evs = append(evs, e)
	}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatalf("Put: %v", err)
	}
	keys, err := s.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var lines int
	for _, k := range keys {
		if len(k) > 200 {
			t.Errorf("key of %d bytes: %.80q…", len(k), k)
		}
		if strings.Contains(k, ":o:") || strings.Contains(k, ":w:") {
			lines++
		}
	}
	if lines != 2 {
		t.Errorf("%d line keys (%q), want a head and a waiting line", lines, keys)
	}
}

// TestLineSubjectMaxInLua: the scripts bound line names where the Go side
// says they are bounded.
func TestLineSubjectMaxInLua(t *testing.T) {
	want := fmt.Sprintf("local LINE_SUBJECT_MAX = %d\n", gateway.LineSubjectMax)
	if !strings.Contains(mustRead("common.lua"), want) {
		t.Errorf("common.lua does not hold %q", want)
	}
}
