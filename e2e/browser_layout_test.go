package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Subscribers with long-ish names, as a real deployment has them.
const (
	okSub     = "search-indexer-primary"
	failSub   = "pricing-service-eu-west"
	strictSub = "audit-log-archiver-nightly"
)

// TestBrowserDashboardLayout: three subscribers, one answering 200, one
// 500 (retrying, its breaker open) and one 401 (dead). The event list
// says how each subscriber fared; the times on the page move with the
// clock without the data changing; an open breaker says when it probes;
// the subscriber table fits 1400 px with its actions in view, and a phone
// shows the status; a subscriber removed from the config keeps its
// charts. Screenshots go to $HOOKGATE_ARTIFACTS when it is set.
func TestBrowserDashboardLayout(t *testing.T) {
	// Parallel tests start once TestBrowserDashboard, which clears the
	// artifacts directory, is done.
	t.Parallel()
	chrome := chromium(t)
	answer := func(code int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(code)
			io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/hooks"
	}
	w := newWorld(t, embedded)
	w.subscribers[okSub] = map[string]any{"url": answer(200, "ok"), "secret": newSecret(t), "retry": fastRetry}
	w.subscribers[failSub] = map[string]any{"url": answer(500, "upstream database unavailable"), "secret": newSecret(t),
		"retry":   map[string]any{"max_attempts": 100, "initial_backoff": "50ms", "max_backoff": "200ms"},
		"breaker": map[string]any{"consecutive_failures": 3, "cooldown": "5m"}}
	w.subscribers[strictSub] = map[string]any{"url": answer(401, "signature does not verify"), "secret": newSecret(t), "retry": fastRetry}
	g := w.start()

	var ids []string
	for i, p := range []string{"CELCOM10", "XOX5", "DIGI20"} {
		g.mustAccept(product(p, i+1))
		ids = append(ids, g.eventID(t, "iimmpact.product.updated", "product/"+p))
	}
	id := ids[0]
	g.waitDelivery(t, id, okSub, "delivered")
	g.waitDelivery(t, id, strictSub, "dead")
	g.waitDelivery(t, id, failSub, "retrying")
	waitFor(t, time.Minute, "the breaker of "+failSub+" open, with its next probe", func() (bool, string) {
		s := g.subscribers(t)[failSub]
		return s.Breaker == "open" && s.BreakerNextProbeAt != nil, fmt.Sprintf("%+v", s)
	})
	// The API: the probe is the cooldown after the opening, so within the
	// next five minutes; the event rows name each subscriber's status.
	if at := g.subscribers(t)[failSub].BreakerNextProbeAt; at.Before(time.Now()) || at.After(time.Now().Add(5*time.Minute)) {
		t.Errorf("breaker_next_probe_at = %v, want within the 5 min cooldown from now", at)
	}
	if s := g.subscribers(t)[okSub]; s.BreakerNextProbeAt != nil {
		t.Errorf("closed breaker: breaker_next_probe_at = %v, want absent", s.BreakerNextProbeAt)
	}
	var page eventPage
	g.adminGet(t, "/admin/api/events?subject=product/CELCOM10", &page)
	if len(page.Events) != 1 || page.Events[0].Status != "dead" ||
		fmt.Sprint(page.Events[0].Deliveries) != fmt.Sprint(map[string]string{okSub: "delivered", failSub: "retrying", strictSub: "dead"}) {
		t.Errorf("events?subject=product/CELCOM10 = %+v, want status dead and each subscriber's own", page.Events)
	}

	dir := os.Getenv("HOOKGATE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts directory: %v", err)
	}
	b := newBrowser(t, chrome, dir)
	b.answerBasic("ops", g.token)
	b.run(chromedp.EmulateViewport(1400, 900))
	admin := "http://" + g.admin + "/admin/"
	row := func(sub string) string {
		return fmt.Sprintf(`document.querySelector('#subscribers tr[data-sub=%q]')`, sub)
	}
	status := fmt.Sprintf(`document.querySelector('#events tr[data-event-id=%q] td[data-k=status]')`, id)
	b.run(chromedp.Navigate(admin))
	b.waitJS("three subscribers and three events", `document.querySelectorAll('#subscribers tr[data-sub]').length === 3 && `+
		`document.querySelectorAll('#events tr[data-event-id]').length === 3`)

	// Each subscriber's status in the event list, not one word for all.
	b.waitJS("the event's status per subscriber", fmt.Sprintf(`(t => t.includes('1/3 delivered') && t.includes(%q) && t.includes(%q))(%s.textContent)`,
		failSub+" retrying", strictSub+" dead", status))
	b.waitJS("counts pluralized", `document.getElementById('counts').textContent === '2 sources · 3 subscribers'`)
	b.shot("events-list")

	// The open breaker says when it probes, and counts down.
	probe := regexp.MustCompile(`^next probe in [0-9]+ (min|s)( [0-9]+ s)? \([0-9]{2}\D[0-9]{2}\D[0-9]{2}\)$`)
	text := b.text(row(failSub) + `.querySelector('[data-k=probe]')`)
	if !probe.MatchString(text) {
		t.Errorf("open breaker's probe = %q, want %v", text, probe)
	}
	b.ticks("the oldest pending age of "+failSub, `#subscribers tr[data-sub="`+failSub+`"] td[data-k=oldest]`)
	b.ticks("the breaker's countdown", `#subscribers tr[data-sub="`+failSub+`"] [data-k=probe]`)
	b.ticks("the oldest pending tile", `#oldest-tile`)

	// 1400 px: no sideways scroll, every Replay in view and on top.
	b.waitJS("the subscriber table within 1400 px", `(s => s.scrollWidth <= s.clientWidth && `+
		`s.querySelector('table').getBoundingClientRect().right <= innerWidth)(document.querySelector('#subscribers .scroll')) && `+
		`document.documentElement.scrollWidth <= innerWidth`)
	for _, sub := range []string{okSub, failSub, strictSub} {
		b.waitJS(sub+"'s Replay visible", inView(row(sub)+`.querySelector('button[data-action=replay]')`))
	}
	b.run(chromedp.Evaluate[chromedp.Void](`scrollTo(0, 0)`))
	b.shot("subscribers-1400")

	// The event page: the 401's answer, and the open breaker's probe in
	// place of a "next attempt due now" that would never come.
	b.run(chromedp.Navigate(admin + "#/events/" + id))
	b.waitJS("the 401's response excerpt", `document.querySelector('article[data-sub="`+strictSub+`"] [data-k=response] pre')?.textContent === 'signature does not verify'`)
	b.waitJS("the breaker's next probe on the event page", `/next probe in /.test(document.querySelector('article[data-sub="`+failSub+`"] .note.breaker')?.textContent) && `+
		`!document.querySelector('article[data-sub="`+failSub+`"] .note.next')`)
	b.shot("event-page")

	// A phone: the status is on screen, nothing scrolls sideways.
	b.run(chromedp.EmulateViewport(390, 844), chromedp.Navigate(admin+"#/"))
	b.waitJS("the event's status on screen at 390 px", inBounds(status)+` && /1\/3 delivered/.test(`+status+`.textContent)`)
	b.waitJS("the breaker on screen at 390 px", inBounds(row(failSub)+`.querySelector('[data-k=breaker]')`))
	b.waitJS("nothing sideways at 390 px", `document.documentElement.scrollWidth <= innerWidth`)
	b.shot("phone")
	b.run(chromedp.Navigate(admin + "#/events/" + id))
	b.waitJS("the event page at 390 px", `!!document.querySelector('article[data-sub="`+strictSub+`"] [data-k=response] pre') && document.documentElement.scrollWidth <= innerWidth`)
	b.shot("phone-event")

	// Removed from the config, the failing subscriber keeps its charts.
	b.run(chromedp.EmulateViewport(1400, 900), chromedp.Navigate(admin+"#/"))
	delete(w.subscribers, failSub)
	w.rewrite(g)
	if code, err := g.adminDo(http.MethodPost, "/admin/api/reload", nil); err != nil || code != http.StatusOK {
		t.Fatalf("POST /admin/api/reload: %d %v", code, err)
	}
	b.waitJS("the removed subscriber's failures still charted", fmt.Sprintf(`(r => !!r && r.textContent.includes('removed from config') && `+
		`/[1-9][0-9]* fail/.test(r.querySelector('td[data-k=charts]').textContent))(%s)`, row(failSub)))
	b.waitJS("two subscribers configured", `document.getElementById('counts').textContent === '2 sources · 2 subscribers'`)
	b.shot("removed")
	b.checkErrors()
}

// inBounds is a JavaScript test that the element (an expression) is
// shown and lies within the viewport's width.
func inBounds(elem string) string {
	return `(n => { if (!n) return false; const r = n.getBoundingClientRect(); ` +
		`return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= innerWidth; })(` + elem + `)`
}

// inView is a JavaScript test that the element, scrolled to, lies within
// the viewport and is what a click at its middle reaches (not clipped or
// covered).
func inView(elem string) string {
	return `(n => { if (!n) return false; n.scrollIntoView({block: 'center', inline: 'nearest'}); const r = n.getBoundingClientRect(); ` +
		`if (!(r.width > 0 && r.left >= 0 && r.right <= innerWidth && r.top >= 0 && r.bottom <= innerHeight)) return false; ` +
		`const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2); return !!at && n.contains(at); })(` + elem + `)`
}

// text returns the text of the element (an expression), failing the test
// when there is none.
func (b *browser) text(elem string) string {
	b.t.Helper()
	var s string
	b.waitJS("the element "+elem, `!!`+elem)
	s = b.eval(elem + `.textContent`)
	return strings.TrimSpace(s)
}

// eval returns the string value of a JavaScript expression.
func (b *browser) eval(expr string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.fail("evaluate %s: %v", expr, err)
	}
	return s
}

// ticks checks that the text of the element sel changes with the clock
// alone: the same element (the view did not render it again, as it does
// when the data changes) shows another text a few seconds later. A
// render in between spoils a try, and another is made; a text that
// never moves fails after about a minute.
func (b *browser) ticks(what, sel string) {
	b.t.Helper()
	mark := fmt.Sprintf(`(n => { window.__tick = n && {n, text: n.textContent}; return !!n; })(document.querySelector(%q))`, sel)
	moved := fmt.Sprintf(`(n => { const m = window.__tick; return !!m && n === m.n && n.textContent !== m.text; })(document.querySelector(%q))`, sel)
	for range 20 {
		b.waitJS(what, mark)
		time.Sleep(2500 * time.Millisecond)
		if b.eval(fmt.Sprintf(`String(%s)`, moved)) == "true" {
			return
		}
	}
	b.fail("%s: the text of %s did not change with the clock", what, sel)
}
