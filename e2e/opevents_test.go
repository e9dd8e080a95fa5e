package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// opObject is data.object of one of the gateway's own events.
type opObject struct {
	Subscriber string `json:"subscriber"`
	Reason     string `json:"reason"`
	Event      *struct {
		ID         string `json:"id"`
		Type       string `json:"type"`
		Subject    string `json:"subject"`
		Attempts   int    `json:"attempts"`
		LastStatus int    `json:"last_status"`
		DeadReason string `json:"dead_reason"`
		Response   *struct {
			Body string `json:"body"`
		} `json:"response"`
	} `json:"event"`
}

// The gateway's own events (SPEC 5), through the real binary: a 401 and a
// 410 each tell the ops subscriber (sources [hookgate]) of the dead
// delivery, the 410 also of the pause (reason gone), the admin API's
// resume of the resume; each once, though on Redis two gateways share the
// store (the 410 answered to either, the resume asked of the other). The
// subscriber of every event without sources gets none of them.
func TestOpEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		w := newWorld(t, b)
		refuse := newRecorder(t, "refuse", 1)
		refuse.answer(http.StatusUnauthorized)
		gone := newRecorder(t, "gone", 1)
		gone.answer(http.StatusGone)
		ops := newRecorder(t, "ops", 1)
		all := newRecorder(t, "all", 1)
		w.subscribe("refuse", sub{rec: refuse, events: []string{"iimmpact.product.*"}, maxInFlight: 1})
		w.subscribe("gone", sub{rec: gone, events: []string{"iimmpact.product.*"}, maxInFlight: 1})
		w.subscribe("ops", sub{rec: ops, sources: []string{"hookgate"},
			events: []string{"hookgate.delivery.dead", "hookgate.subscriber.*"}})
		w.subscribe("all", sub{rec: all})
		ingest := w.start()
		control := ingest
		if b.name == "redis" {
			control = w.start()
		}

		ingest.mustAccept(product("OPS1", 0))
		ops.waitN(t, 3, 30*time.Second)
		id := ingest.eventID(t, "iimmpact.product.updated", "product/OPS1")

		byKey := map[string]opObject{}
		for _, rc := range ops.all() {
			if rc.env.Source != "hookgate" || !strings.HasPrefix(rc.env.Subject, "subscriber/") {
				t.Errorf("ops got %s %s from %s", rc.env.Type, rc.env.Subject, rc.env.Source)
			}
			var obj opObject
			if err := json.Unmarshal(rc.env.Data.Object, &obj); err != nil {
				t.Fatalf("data.object %s: %v", rc.env.Data.Object, err)
			}
			byKey[rc.env.Type+" "+rc.env.Subject] = obj
		}
		want := []string{
			"hookgate.delivery.dead subscriber/gone",
			"hookgate.delivery.dead subscriber/refuse",
			"hookgate.subscriber.paused subscriber/gone",
		}
		var got []string
		for k := range byKey {
			got = append(got, k)
		}
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("ops got %v, want %v", got, want)
		}
		dead := byKey["hookgate.delivery.dead subscriber/refuse"]
		if e := dead.Event; dead.Reason != "permanent" || e == nil || e.ID != id || e.Type != "iimmpact.product.updated" ||
			e.Subject != "product/OPS1" || e.Attempts != 1 || e.LastStatus != 401 || e.DeadReason != "permanent" || e.Response == nil {
			t.Errorf("dead event of refuse: %+v, event %+v", dead, e)
		}
		if p := byKey["hookgate.subscriber.paused subscriber/gone"]; p.Reason != "gone" || p.Subscriber != "gone" {
			t.Errorf("paused event: %+v, want reason gone", p)
		}

		if code, err := control.adminDo(http.MethodPost, "/admin/api/subscribers/gone/resume", nil); err != nil || code != http.StatusOK {
			t.Fatalf("resume: got %s, want 200", statusDetail(code, err))
		}
		ops.waitN(t, 4, 30*time.Second)
		if _, ok := ops.find("hookgate.subscriber.resumed", "subscriber/gone"); !ok {
			t.Errorf("no resumed event")
		}
		// A second resume of a subscriber not paused tells nothing.
		if code, err := ingest.adminDo(http.MethodPost, "/admin/api/subscribers/gone/resume", nil); err != nil || code != http.StatusOK {
			t.Fatalf("second resume: got %s, want 200", statusDetail(code, err))
		}
		time.Sleep(time.Second) // a late or doubled event would arrive; not an assertion on time
		if n, dup := ops.counts(); n != 4 || dup != 0 {
			t.Errorf("ops got %d events (%d copies more), want 4 once each", n, dup)
		}
		// Counted in /metrics: 4 stored across the gateways, none dropped.
		stored := 0
		gws := []*gateway{ingest}
		if control != ingest {
			gws = append(gws, control)
		}
		for _, g := range gws {
			text := g.metricsText(t)
			if !strings.Contains(text, `hookgate_opevents_total{result="dropped"} 0`+"\n") ||
				!strings.Contains(text, "hookgate_opevents_queue_limit 4096\n") {
				t.Errorf("metrics lack dropped 0 or the queue limit:\n%s", grepLines(text, "hookgate_opevents"))
			}
			var n int
			if m := regexp.MustCompile(`(?m)^hookgate_opevents_total\{result="stored"\} (\d+)$`).FindStringSubmatch(text); m != nil {
				n, _ = strconv.Atoi(m[1])
			}
			stored += n
		}
		if stored != 4 {
			t.Errorf("hookgate_opevents_total{result=\"stored\"} sums to %d over the gateways, want 4", stored)
		}
		all.waitN(t, 1, 30*time.Second)
		for _, rc := range all.all() {
			if rc.env.Source == "hookgate" {
				t.Errorf("the subscriber of every event got %s", rc.env.Type)
			}
		}
	})
}
