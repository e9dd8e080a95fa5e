package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// The dashboard shows why a delivery failed: the subscriber's answer on
// the dead page and on the event page, and "HTTP 401" once per attempt
// (it used to say "HTTP 401 · HTTP 401").
func TestBrowserResponseExcerpt(t *testing.T) {
	t.Parallel()
	chrome := chromium(t)
	strict := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, "signature does not verify <b>bold</b>")
	}))
	t.Cleanup(strict.Close)
	w := newWorld(t, embedded)
	w.subscribers["strict"] = map[string]any{"url": strict.URL + "/hook", "secret": newSecret(t), "retry": fastRetry}
	g := w.start()
	g.mustAccept(product("CELCOM10", 1))
	id := g.eventID(t, "iimmpact.product.updated", "product/CELCOM10")
	g.waitDelivery(t, id, "strict", "dead")

	// Screenshots only where asked for: TestBrowserDashboard owns the
	// default artifacts directory and clears it.
	dir := os.Getenv("HOOKGATE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	b := newBrowser(t, chrome, dir)
	b.answerBasic("ops", g.token)
	admin := "http://" + g.admin + "/admin/"
	row := `document.querySelector('#dead tr[data-event-id="` + id + `"]')`
	b.run(chromedp.Navigate(admin + "#/dead/strict"))
	b.waitJS("the dead delivery listed", `!!`+row)
	b.waitJS("its response shown, as text", row+`.querySelector('[data-k=response] pre').textContent === 'signature does not verify <b>bold</b>' && `+
		row+`.querySelector('[data-k=response]').textContent.includes('text/plain; charset=utf-8') && !`+row+`.querySelector('[data-k=response] b')`)
	b.waitJS("HTTP 401 said once per attempt", `[...`+row+`.querySelectorAll('li')].every(li => li.textContent.includes('HTTP 401') && !li.textContent.includes('HTTP 401 · HTTP 401'))`)
	b.shot("response-dead")

	b.run(chromedp.Navigate(admin + "#/events/" + id))
	b.waitJS("the attempt's response on the event page",
		`document.querySelector('article[data-sub="strict"] tr[data-attempt] [data-k=response] pre')?.textContent === 'signature does not verify <b>bold</b>'`)
	b.shot("response-event")
	b.checkErrors()
}
