package boltstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// TestListScanIsBounded: a filter the index cannot answer (source and
// type: the source index, type checked per event) over many events of
// which only the oldest matches. No call examines more than listScan
// entries: the first pages come back empty with a cursor, and paging on
// finds the match once and then ends.
func TestListScanIsBounded(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	const total = 2*listScan + 10
	evs := make([]gateway.NewEvent, 0, total)
	for i := range total {
		ev := testEvent(fmt.Sprintf("evt_%05d", i), t0.Add(time.Duration(i)*time.Millisecond))
		if i == 0 {
			ev.Envelope.Type = "src1.rare.created"
		}
		evs = append(evs, ev)
	}
	if _, err := s.Put(ctx, evs); err != nil {
		t.Fatalf("Put: %v", err)
	}
	f := gateway.EventFilter{Source: "src1", Type: "src1.rare.created", Limit: 10}
	var pages [][]string
	for {
		page, err := s.List(ctx, f)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		var ids []string
		for _, e := range page.Events {
			ids = append(ids, e.ID)
		}
		pages = append(pages, ids)
		if page.NextCursor == "" || len(pages) > total {
			break
		}
		f.Cursor = page.NextCursor
	}
	// listScan entries a call: two empty pages, then the last with the match.
	want := [][]string{nil, nil, {"evt_00000"}}
	if fmt.Sprint(pages) != fmt.Sprint(want) {
		t.Errorf("pages = %v, want %v", pages, want)
	}
}
