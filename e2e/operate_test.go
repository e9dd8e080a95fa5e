package e2e

import (
	"fmt"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"
)

// Dead deliveries stay until an operator redelivers them; a delivered
// event can be sent again on request.
func TestRedeliver(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		r := newRecorder(t, "picky", 1)
		r.answer(400)
		w.subscribe("picky", sub{rec: r})
		g := w.start()
		g.mustAccept(product("DEAD1", 400))
		id := g.eventID(t, "iimmpact.product.updated", "product/DEAD1")
		g.waitDelivery(t, id, "picky", "dead")

		var queued struct {
			Queued int `json:"queued"`
		}
		code, err := g.adminDo(http.MethodPost, "/admin/api/subscribers/picky/redeliver-dead", &queued)
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("POST redeliver-dead: got %d (%v), want 202", code, err)
		}
		if queued.Queued != 1 {
			t.Errorf("redeliver-dead queued: got %d, want 1", queued.Queued)
		}
		g.waitDelivery(t, id, "picky", "delivered")
		if c := r.copies(id); c != 1 {
			t.Errorf("after redeliver-dead: got %d copies, want 1", c)
		}

		code, err = g.adminDo(http.MethodPost, "/admin/api/events/"+id+"/redeliver?subscriber=picky", nil)
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("POST redeliver of a delivered event: got %d (%v), want 202", code, err)
		}
		waitFor(t, 30*time.Second, "the redelivered event arrives again", func() (bool, string) {
			c := r.copies(id)
			return c == 2, fmt.Sprintf("%d copies", c)
		})
		if s := g.subscribers(t)["picky"]; s.Dead != 0 {
			t.Errorf("after redelivery: dead got %d, want 0", s.Dead)
		}
	})
}

// An operator adds subscribers by editing config.yaml and reloading, by
// the admin API or SIGHUP; a broken edit is refused and the running
// config stays.
func TestReloadAddsSubscriber(t *testing.T) {
	t.Parallel()
	w := newWorld(t, embedded)
	first := newRecorder(t, "first", 1)
	w.subscribe("first", sub{rec: first})
	g := w.start()

	added := newRecorder(t, "added", 1)
	w.subscribe("added", sub{rec: added})
	w.rewrite(g)
	if code, err := g.adminDo(http.MethodPost, "/admin/api/reload", nil); err != nil || code/100 != 2 {
		t.Fatalf("POST /admin/api/reload: got %d (%v), want 2xx", code, err)
	}
	g.mustAccept(product("RELOAD1", 500))
	added.waitN(t, 1, 30*time.Second)
	first.waitN(t, 1, 30*time.Second)

	bySignal := newRecorder(t, "bysignal", 1)
	w.subscribe("bysignal", sub{rec: bySignal})
	w.rewrite(g)
	g.signal(syscall.SIGHUP)
	waitFor(t, 30*time.Second, "SIGHUP loads the new subscriber", func() (bool, string) {
		_, ok := g.subscribers(t)["bysignal"]
		return ok, "bysignal not listed yet"
	})
	g.mustAccept(product("RELOAD2", 501))
	bySignal.waitN(t, 1, 30*time.Second)

	if err := os.WriteFile(g.config, []byte("server:\n  listen: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, err := g.adminDo(http.MethodPost, "/admin/api/reload", nil); err != nil || code/100 == 2 {
		t.Errorf("POST /admin/api/reload of a broken config: got %d (%v), want an error status", code, err)
	}
	// Still running on the last good config: all three get the next event.
	g.mustAccept(product("RELOAD3", 502))
	first.waitN(t, 3, 30*time.Second)
	added.waitN(t, 3, 30*time.Second)
	bySignal.waitN(t, 2, 30*time.Second)
}
