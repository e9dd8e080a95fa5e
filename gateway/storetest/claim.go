package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

func testClaim(t *testing.T, h harness) {
	s := h.store(t)
	// Put out of order: "oldest due first" must follow the due time, not
	// the insertion order.
	put(t, s,
		newEvent("evt_c3", "src1", "src1.product.updated", at(30*time.Second), "sub-a"),
		newEvent("evt_c1", "src1", "src1.product.updated", at(10*time.Second), "sub-a", "sub-b"),
		newEvent("evt_c2", "src1", "src1.product.updated", at(20*time.Second), "sub-a"),
	)

	steps := []struct {
		name string
		sub  string
		now  time.Duration
		max  int
		want []string
	}{
		{"nothing due yet", "sub-a", 5 * time.Second, 10, nil},
		{"due at exactly now", "sub-a", 10 * time.Second, 10, []string{"evt_c1"}},
		{"only due ones, oldest first", "sub-a", 25 * time.Second, 10, []string{"evt_c2"}},
		{"other subscriber independent", "sub-b", time.Hour, 10, []string{"evt_c1"}},
		{"claimed ones not again", "sub-a", 40 * time.Second, 10, []string{"evt_c3"}},
		{"empty queue", "sub-a", 50 * time.Second, 10, nil},
	}
	seen := map[string]bool{}
	for _, st := range steps {
		cs := claim(t, s, st.sub, at(st.now), st.max)
		var got []string
		for _, c := range cs {
			got = append(got, c.EventID)
			if seen[c.Token] || c.Token == "" {
				t.Errorf("%s: token %q empty or reused", st.name, c.Token)
			}
			seen[c.Token] = true
		}
		if !equalStrings(got, st.want) {
			t.Errorf("%s: Claim(%s, +%v) = %v, want %v", st.name, st.sub, st.now, got, st.want)
		}
	}

	t.Run("at most max, oldest due first", func(t *testing.T) {
		s := h.store(t)
		var evs []gateway.NewEvent
		for i, id := range []string{"evt_m4", "evt_m2", "evt_m5", "evt_m1", "evt_m3"} {
			due := map[int]time.Duration{0: 4, 1: 2, 2: 5, 3: 1, 4: 3}[i] * time.Second
			evs = append(evs, newEvent(id, "src1", "src1.product.updated", at(due), "sub-a"))
		}
		put(t, s, evs...)
		var got []string
		for _, max := range []int{2, 2, 2} {
			cs := claim(t, s, "sub-a", at(time.Minute), max)
			if len(cs) > max {
				t.Errorf("Claim(max %d) returned %d", max, len(cs))
			}
			for _, c := range cs {
				got = append(got, c.EventID)
			}
		}
		want := []string{"evt_m1", "evt_m2", "evt_m3", "evt_m4", "evt_m5"}
		if !equalStrings(got, want) {
			t.Errorf("claims in order = %v, want %v", got, want)
		}
	})

	t.Run("claim fields", func(t *testing.T) {
		s := h.store(t)
		e := newEvent("evt_cf", "src1", "src1.product.updated", at(0), "sub-a")
		put(t, s, e)
		c := claimOne(t, s, "sub-a", at(time.Second))
		fields := []struct {
			name      string
			got, want any
		}{
			{"EventID", c.EventID, "evt_cf"},
			{"Subscriber", c.Subscriber, "sub-a"},
			{"Attempts", c.Attempts, 0},
			{"CreatedAt", c.CreatedAt.UTC(), at(0)},
			{"Body", string(c.Body), string(e.Body)},
		}
		for _, f := range fields {
			if f.got != f.want {
				t.Errorf("claim %s = %v, want %v", f.name, f.got, f.want)
			}
		}
	})
}

func testClaimLease(t *testing.T, h harness) {
	s := h.store(t)
	e := newEvent("evt_ls", "src1", "src1.product.updated", at(0), "sub-a")
	put(t, s, e)
	cs, err := s.Claim(context.Background(), "sub-a", at(0), 10, 30*time.Second)
	if err != nil || len(cs) != 1 {
		t.Fatalf("first Claim = %d claims, %v; want 1, nil", len(cs), err)
	}
	first := cs[0]

	if n := len(claim(t, s, "sub-a", at(29*time.Second), 10)); n != 0 {
		t.Errorf("Claim before the lease ends got %d, want 0", n)
	}
	// The lease runs out without a Record: the delivery is due again, and
	// no attempt was counted.
	second := claimOne(t, s, "sub-a", at(31*time.Second))
	if second.Attempts != 0 {
		t.Errorf("reclaimed Attempts = %d, want 0", second.Attempts)
	}
	if second.Token == first.Token {
		t.Errorf("reclaimed token equals the expired one (%q)", first.Token)
	}
	if !bytes.Equal(second.Body, e.Body) {
		t.Errorf("reclaimed Body = %q, want %q", second.Body, e.Body)
	}

	err = s.Record(context.Background(), first, delivered(at(32*time.Second)))
	wantErr(t, "Record with the expired lease", err, gateway.ErrLeaseLost)
	err = s.Release(context.Background(), first, at(time.Hour))
	wantErr(t, "Release with the expired lease", err, gateway.ErrLeaseLost)
	d := delivery(t, s, "evt_ls", "sub-a")
	if d.Attempts != 0 || len(d.History) != 0 || d.Status != gateway.StatusPending {
		t.Errorf("after the lost Record: status %s, %d attempts, %d history; want pending, 0, 0", d.Status, d.Attempts, len(d.History))
	}

	// The current holder's Record still counts.
	record(t, s, second, delivered(at(33*time.Second)))
	if got := delivery(t, s, "evt_ls", "sub-a").Status; got != gateway.StatusDelivered {
		t.Errorf("status after the holder's Record = %s, want delivered", got)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
