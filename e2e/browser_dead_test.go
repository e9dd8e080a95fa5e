package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// The dead page says what died and why: each dead delivery with its
// event's type and subject beside the id, and its reason as words; the
// reason filter lists one kind, with or without a subscriber, and keeps
// its place in the URL.
func TestBrowserDeadReasons(t *testing.T) {
	t.Parallel()
	chrome := chromium(t)
	answering := func(status int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/hook"
	}
	w := newWorld(t, embedded)
	reasons := map[string]string{"strict": "permanent", "moved": "gone", "flaky": "attempts", "slow": "max_age"}
	w.subscribers["strict"] = map[string]any{"url": answering(http.StatusUnauthorized), "secret": newSecret(t), "retry": fastRetry}
	w.subscribers["moved"] = map[string]any{"url": answering(http.StatusGone), "secret": newSecret(t), "retry": fastRetry}
	w.subscribers["flaky"] = map[string]any{"url": answering(http.StatusServiceUnavailable), "secret": newSecret(t),
		"retry": map[string]any{"max_attempts": 2, "initial_backoff": "50ms", "max_backoff": "200ms"}}
	w.subscribers["slow"] = map[string]any{"url": answering(http.StatusBadGateway), "secret": newSecret(t),
		"retry": map[string]any{"max_age": "1ms", "initial_backoff": "50ms", "max_backoff": "200ms"}}
	g := w.start()
	var ids []string
	for i, p := range []string{"CELCOM10", "DIGI5"} {
		g.mustAccept(product(p, i+1))
		id := g.eventID(t, "iimmpact.product.updated", "product/"+p)
		for sub, why := range reasons {
			if d := g.waitDelivery(t, id, sub, "dead"); d.DeadReason != why {
				t.Errorf("%s to %s: dead_reason %q, want %q", id, sub, d.DeadReason, why)
			}
		}
		ids = append(ids, id)
		// The 410 paused moved: resumed, it takes the next event.
		if code, err := g.adminDo(http.MethodPost, "/admin/api/subscribers/moved/resume", nil); err != nil || code/100 != 2 {
			t.Fatalf("resume moved = %d, %v", code, err)
		}
	}

	dir := os.Getenv("HOOKGATE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir() // TestBrowserDashboard owns the default directory and clears it
	}
	b := newBrowser(t, chrome, dir)
	b.answerBasic("ops", g.token)
	b.run(chromedp.EmulateViewport(1400, 900))
	admin := "http://" + g.admin + "/admin/"
	rows := `[...document.querySelectorAll('#dead tr[data-event-id]')]`
	b.run(chromedp.Navigate(admin + "#/dead"))
	b.waitJS("every dead delivery listed", rows+`.length === 8`)
	labels := map[string]string{"permanent": "4xx permanent", "gone": "410 gone", "attempts": "attempts exhausted", "max_age": "max age passed"}
	for sub, why := range reasons {
		b.waitJS(sub+"'s reason, in words", fmt.Sprintf(`%s.filter(r => r.dataset.sub === %q).every(r => r.dataset.reason === %q && `+
			`r.querySelector('[data-k=reason]').textContent === %q)`, rows, sub, why, labels[why]))
	}
	b.waitJS("type and subject beside each id", rows+`.every(r => r.querySelector('[data-k=type]').textContent === 'iimmpact.product.updated' && `+
		`['product/CELCOM10', 'product/DIGI5'].includes(r.querySelector('[data-k=subject]').textContent))`)
	b.waitJS("HTTP 401 said once", rows+`.filter(r => r.dataset.sub === 'strict').every(r => !r.textContent.includes('HTTP 401 · HTTP 401') && `+
		`(r.querySelector('[data-k=last]').textContent.match(/HTTP 401/g) || []).length === 1)`)
	b.waitJS("the newest dead first, across subscribers", `(() => { const t = `+rows+`.map(r => r.querySelector('time').getAttribute('datetime')); `+
		`return t.every((x, i) => i === 0 || Date.parse(t[i - 1]) >= Date.parse(x)); })()`)
	b.shot("dead-reasons")
	b.dark(true)
	b.shot("dead-reasons-dark")
	b.dark(false)

	// At phone width each dead delivery is a card: the page does not
	// scroll sideways, and the reason and the Redeliver button are on
	// screen.
	b.run(chromedp.EmulateViewport(390, 844))
	b.waitJS("dead deliveries as cards at 390 px", `document.documentElement.scrollWidth <= window.innerWidth && `+rows+`.every(r => { `+
		`const on = e => { const x = e.getBoundingClientRect(); return x.left >= 0 && x.right <= window.innerWidth; }; `+
		`return on(r.querySelector('[data-k=reason]')) && on(r.querySelector('button[data-action=redeliver]')); })`)
	b.shot("dead-phone")
	b.run(chromedp.EmulateViewport(1400, 900))

	pick := func(name, value string) {
		b.t.Helper()
		b.waitJS("the "+name+" filter set to "+value, fmt.Sprintf(`(() => { const s = document.querySelector('#dead select[aria-label=%q]'); `+
			`if (!s) return false; s.value = %q; s.dispatchEvent(new Event('change')); return true; })()`, name, value))
	}
	pick("Reason", "gone")
	b.waitJS("only the 410s", `location.hash === '#/dead?reason=gone' && `+rows+`.length === 2 && `+rows+`.every(r => r.dataset.reason === 'gone')`)
	pick("Subscriber", "moved")
	b.waitJS("the 410s of moved", `location.hash === '#/dead/moved?reason=gone' && `+rows+`.length === 2 && `+
		`document.querySelector('#dead select[aria-label=Reason]').value === 'gone'`)
	pick("Subscriber", "strict")
	b.waitJS("none for strict", `location.hash === '#/dead/strict?reason=gone' && document.querySelector('#dead .empty')?.textContent.includes('with reason 410 gone')`)
	pick("Reason", "")
	b.waitJS("strict's, any reason", `location.hash === '#/dead/strict' && `+rows+`.length === 2 && `+rows+`.every(r => r.dataset.reason === 'permanent')`)
	b.run(chromedp.Navigate(admin + "#/dead?reason=max_age"))
	b.waitJS("a filter from the URL", rows+`.length === 2 && `+rows+`.every(r => r.dataset.sub === 'slow') && `+
		`document.querySelector('#dead select[aria-label=Reason]').value === 'max_age'`)

	b.run(chromedp.Navigate(admin + "#/events/" + ids[0]))
	b.waitJS("the reason on the event page", `document.querySelector('article[data-sub="moved"] .note [data-k=reason]')?.textContent === '410 gone'`)
	b.shot("dead-reasons-event")
	b.checkErrors()
}
