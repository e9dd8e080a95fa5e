package gateway

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestDuplicateTally: counts are held and shown until written; a tally
// that is full has the caller write it first; a failed write keeps the
// counts for the next; Close writes what is left.
func TestDuplicateTally(t *testing.T) {
	var mu sync.Mutex
	var writes []map[string]DuplicateCount
	fail := false
	d := NewDuplicateTally(time.Hour, 2, func(m map[string]DuplicateCount) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("store down")
		}
		writes = append(writes, m)
		return nil
	})
	d.Add("a", 0)
	d.Add("a", 0)
	d.Add("b", 3)
	if got := d.Pending("a"); got != 2 {
		t.Errorf("Pending(a) = %d, want 2", got)
	}
	if len(writes) != 0 {
		t.Fatalf("written before the delay and below the bound: %v", writes)
	}
	// Full (2 ids): a third id has the caller write the two first.
	d.Add("c", 1)
	if len(writes) != 1 || writes[0]["a"].N != 2 || writes[0]["b"] != (DuplicateCount{N: 1, Hint: 3}) {
		t.Fatalf("writes after the bound = %v, want one with a:2 and b:1 (hint 3)", writes)
	}
	if d.Pending("a") != 0 || d.Pending("c") != 1 {
		t.Errorf("Pending after the write: a %d c %d, want 0 and 1", d.Pending("a"), d.Pending("c"))
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	if err := d.Flush(); err == nil {
		t.Fatal("Flush with the store down: no error")
	}
	if got := d.Pending("c"); got != 1 {
		t.Errorf("Pending(c) after a failed write = %d, want 1 (kept)", got)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if len(writes) != 2 || writes[1]["c"].N != 1 {
		t.Errorf("writes after Close = %v, want c:1 written", writes)
	}
}

// TestDuplicateTallyDelay: the counts are written by themselves after
// the delay.
func TestDuplicateTallyDelay(t *testing.T) {
	done := make(chan map[string]DuplicateCount, 1)
	d := NewDuplicateTally(time.Millisecond, 100, func(m map[string]DuplicateCount) error {
		done <- m
		return nil
	})
	d.Add("a", 0)
	select {
	case m := <-done:
		if m["a"].N != 1 {
			t.Errorf("written %v, want a:1", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not written after the delay")
	}
}

// TestDuplicateTallyCloseWhileAdding: a store may be closed while Puts
// still count (boltstore counts on the caller's goroutine): Add and Close
// race on nothing, and every count lands.
func TestDuplicateTallyCloseWhileAdding(t *testing.T) {
	var mu sync.Mutex
	total := 0
	d := NewDuplicateTally(time.Hour, 1000, func(m map[string]DuplicateCount) error {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range m {
			total += c.N
		}
		return nil
	})
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range 200 {
				d.Add("a", 0)
			}
		}()
	}
	close(start)
	for d.Pending("a") == 0 {
		time.Sleep(time.Microsecond)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if total != 800 {
		t.Errorf("written %d, want 800", total)
	}
}
