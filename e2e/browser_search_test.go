package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// priced is an IIMMPACT product update of that price.
func priced(id string, n int, price float64) iimmpactEvent {
	e := product(id, n)
	e.Data = json.RawMessage(fmt.Sprintf(`{"code":%q,"price":%g,"n":%d}`, id, price, n))
	return e
}

// TestSearchAPI: ?q= through the real binary, on each store: a bad
// expression is a 400 that names the column, and a match beyond the
// first page's scan budget is reached by following the cursors of the
// short pages before. TestBrowserSearch drives the same through the
// dashboard's search box.
func TestSearchAPI(t *testing.T) {
	forEachBackend(t, testSearchAPI)
}

func testSearchAPI(t *testing.T, b backend) {
	g, pricey, mid := searchWorld(t, b)

	code, body := adminRaw(t, g, "/admin/api/events?q="+url.QueryEscape(`event.data.object.price >`))
	var bad struct {
		Error  string `json:"error"`
		Column int    `json:"column"`
	}
	_ = json.Unmarshal(body, &bad)
	if code != http.StatusBadRequest || bad.Column != 26 || !strings.Contains(bad.Error, "column 26") {
		t.Errorf("a bad expression: %d %s, want 400 at column 26", code, body)
	}

	q := url.Values{"q": {`event.data.object.price > 100.0 && event.type.endsWith(".updated")`}, "limit": {"50"}}
	var found []string
	pages, short := 0, 0
	for cursor := ""; pages == 0 || cursor != ""; pages++ {
		if pages > 50 {
			t.Fatal("no end after 50 pages")
		}
		q.Set("cursor", cursor)
		code, body := adminRaw(t, g, "/admin/api/events?"+q.Encode())
		var page struct {
			Events        []struct{ ID string } `json:"events"`
			NextCursor    string                `json:"next_cursor"`
			Scanned       int                   `json:"scanned"`
			SearchedUntil *time.Time            `json:"searched_until"`
		}
		if err := json.Unmarshal(body, &page); err != nil || code != http.StatusOK {
			t.Fatalf("page %d: %d %s", pages, code, body)
		}
		if page.NextCursor != "" && len(page.Events) < 50 {
			short++
			if page.Scanned == 0 || page.SearchedUntil == nil {
				t.Errorf("short page %d: scanned %d, searched_until %v: want how far it searched", pages, page.Scanned, page.SearchedUntil)
			}
		}
		for _, e := range page.Events {
			found = append(found, e.ID)
		}
		cursor = page.NextCursor
	}
	if strings.Join(found, ",") != mid+","+pricey || short == 0 {
		t.Errorf("found %v over %d pages (%d short), want %s then %s, past short pages", found, pages, short, mid, pricey)
	}
}

func TestBrowserSearch(t *testing.T) {
	chrome := chromium(t)
	g, pricey, mid := searchWorld(t, embedded)
	dir := os.Getenv("HOOKGATE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir() // TestBrowserDashboard owns the default directory and clears it
	}
	b := newBrowser(t, chrome, dir)
	b.answerBasic("ops", g.token)
	b.run(chromedp.EmulateViewport(1400, 900))
	b.run(chromedp.Navigate("http://" + g.admin + "/admin/"))
	b.waitJS("the newest events listed", `document.querySelectorAll('#events tr[data-event-id]').length === 50`)

	rows := `[...document.querySelectorAll('#events tr[data-event-id]')].map(r => r.dataset.eventId).join(',')`
	search := func(text string) {
		b.t.Helper()
		b.waitJS("the search box set", fmt.Sprintf(`(() => { const i = document.querySelector('#events input[name=search]'); `+
			`if (!i) return false; i.value = %q; return true; })()`, text))
		b.run(chromedp.Click(chromedp.CSS(`#events form button[type=submit]`)))
	}

	// An expression is sent as q: the newest match, then the scan budget
	// runs out, and the page says how far it searched.
	search(`event.data.object.price > 100.0 && event.type.endsWith(".updated")`)
	b.waitJS("the newer match alone, and how far the search went", `location.hash.includes('q=') && `+rows+` === `+
		fmt.Sprintf("%q", mid)+` && /searched [\d,. ]+ events back to/.test(document.getElementById('searched').textContent) && `+
		`!!document.getElementById('continue')`)
	b.shot("search-01-short-page")
	b.run(chromedp.Click(chromedp.CSS(`#continue`)))
	b.waitJS("the older match, further back", rows+` === `+fmt.Sprintf("%q", pricey))
	b.shot("search-02-continued")

	// A bad expression: the gateway's 400, under the box, a caret at its column.
	search(`event.data.object.price >`)
	b.waitJS("the error with its column", `(() => { const e = document.querySelector('#q-error .note.e'); `+
		`return !!e && e.dataset.column === '26' && e.textContent.includes('column 26') && !!e.querySelector('pre.caret'); })()`)
	b.shot("search-03-bad-expression")

	// A subject is still a subject, an id still opens its event.
	search("product/MID")
	b.waitJS("the subject search", `location.hash.includes('subject=product%2FMID') && !location.hash.includes('q=') && `+rows+` === `+fmt.Sprintf("%q", mid))
	search(pricey)
	b.waitJS("the event page", fmt.Sprintf(`location.hash === %q`, "#/events/"+pricey))
	b.checkErrors()
}

// searchWorld starts a gateway on store b holding a product priced 250,
// then more events than the dashboard's three calls of a search scan
// (the embedded store examines 2,000 a call, Redis 1,000), then one
// priced 150; it returns the two priced ones' ids, oldest first.
func searchWorld(t *testing.T, b backend) (*gateway, string, string) {
	w := newWorld(t, b)
	g := w.start()
	g.mustAccept(priced("PRICEY", 1, 250))
	pricey := g.eventID(t, "iimmpact.product.updated", "product/PRICEY")
	for n := range 62 {
		if code, msg, err := g.sendC360(c360Key, bigBatch(n, 30000)); err != nil || code != http.StatusOK {
			t.Fatalf("catalog360 batch %d: %d %q (%v)", n, code, msg, err)
		}
	}
	g.mustAccept(priced("CHEAP", 2, 20))
	g.mustAccept(priced("MID", 3, 150))
	return g, pricey, g.eventID(t, "iimmpact.product.updated", "product/MID")
}

// adminRaw is GET path on the admin listener, the status and body as
// they came.
func adminRaw(t *testing.T, g *gateway, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+g.admin+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, body
}
