package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestBrowserDashboard drives the dashboard in headless Chromium against
// the real binary, as an operator would: sign in with the token, see the
// subscriber and an event, open the event page, redeliver and watch the
// attempt appear, pause the subscriber; then, in a fresh browser context,
// sign in with HTTP Basic instead and resume it. Full-page screenshots of
// each step go to $HOOKGATE_ARTIFACTS (default e2e/artifacts/).
func TestBrowserDashboard(t *testing.T) {
	chrome := chromium(t)
	w := newWorld(t, embedded)
	hook := newRecorder(t, "search-indexer", 1)
	w.subscribe("search-indexer", sub{rec: hook})
	g := w.start()

	// Traffic first: one event answered 503 once, so that its timeline
	// shows a retry; one answered 422, so that it is dead (a 410 would
	// also pause the subscriber: that comes later).
	hook.answer(503)
	g.mustAccept(product("CELCOM10", 1))
	hook.waitSubjects(t, []string{"product/CELCOM10"}, time.Minute)
	id := g.eventID(t, "iimmpact.product.updated", "product/CELCOM10")
	g.waitDelivery(t, id, "search-indexer", "delivered")
	hook.answer(422)
	g.mustAccept(product("XOX5", 2))
	deadID := g.eventID(t, "iimmpact.product.updated", "product/XOX5")
	g.waitDelivery(t, deadID, "search-indexer", "dead")

	// More than a page of events (the list shows 50), and a second event
	// of the first one's subject.
	var subjects []string
	for i := 3; i <= 57; i++ {
		g.mustAccept(product(fmt.Sprintf("DIGI%d", i*5), i))
		subjects = append(subjects, fmt.Sprintf("product/DIGI%d", i*5))
	}
	g.mustAccept(product("CELCOM10", 99))
	hook.waitSubjects(t, subjects, time.Minute)
	waitFor(t, time.Minute, "both CELCOM10 events delivered", func() (bool, string) {
		n := hook.subjectCopies("product/CELCOM10")
		return n == 2, fmt.Sprintf("%d delivered", n)
	})

	b := newBrowser(t, chrome, artifacts(t))
	admin := "http://" + g.admin + "/admin/"
	sub := `[data-sub="search-indexer"]`
	attempts := `document.querySelectorAll('article` + sub + ` tr[data-attempt]').length`
	eventRow := func(id string) string { return fmt.Sprintf(`tr[data-event-id=%q]`, id) }
	listed := func(id string) string { return fmt.Sprintf(`!!document.querySelector('#events %s')`, eventRow(id)) }

	// Unauthenticated, the browser asks for Basic credentials; cancelled,
	// it shows the page that came with the 401, which asks for the token.
	b.cancelBasic()
	b.run(chromedp.Navigate(admin))
	b.waitJS("the token prompt", `!!document.querySelector('#login input[name=token]')`)
	b.shot("01-token-prompt")
	b.run(chromedp.SendKeys(chromedp.CSS(`#login input[name=token]`), adminToken),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)))
	b.waitJS("the subscriber row", `!!document.querySelector('tr`+sub+`')`)
	b.waitJS("the newest events listed", `document.querySelectorAll('#events tr[data-event-id]').length === 50`)
	b.waitJS("the token kept in session storage", fmt.Sprintf(`sessionStorage.getItem('hookgate.adminToken') === %q`, adminToken))
	b.waitJS("the subscribers table within the page's width", `[...document.querySelectorAll('.scroll')].every(x => x.scrollWidth <= x.clientWidth)`)
	b.waitJS("one subscriber, singular", `document.getElementById('counts').textContent === '2 sources · 1 subscriber'`)
	b.shot("02-overview")

	// The first event is on the second page.
	b.run(chromedp.Click(chromedp.CSS(`#older:not([disabled])`)))
	b.waitJS("the first event on the older page", listed(id))
	// Search by subject: both events of product/CELCOM10, and nothing else.
	b.run(chromedp.SendKeys(chromedp.CSS(`#events input[name=search]`), "product/CELCOM10"),
		chromedp.Click(chromedp.CSS(`#events form button[type=submit]`)))
	b.waitJS("the subject's two events, alone", `location.hash.includes('subject=') && `+
		`document.querySelectorAll('#events tr[data-event-id]').length === 2 && `+listed(id))
	b.shot("03-subject-search")

	// The event page: its own URL, the retry and the success in the timeline.
	b.run(chromedp.Click(chromedp.CSS(`#events ` + eventRow(id) + ` a`)))
	b.waitJS("the event page's URL", fmt.Sprintf(`location.hash === %q`, "#/events/"+id))
	b.waitJS("two attempts in the timeline (503, then 200)", attempts+` === 2`)
	b.waitJS("the envelope, collapsed", `document.querySelector('#envelope') && !document.querySelector('#envelope').open`)
	b.waitJS("the subject's other event", `document.querySelectorAll('#same-subject tr[data-event-id]').length === 2`)
	b.shot("04-event")

	// Redeliver to the subscriber, through the confirmation.
	b.run(chromedp.Click(chromedp.CSS(`article` + sub + ` button[data-action=redeliver]`)))
	b.waitJS("the confirmation", `document.getElementById('confirm').open`)
	b.shot("05-confirm-redeliver")
	b.run(chromedp.Click(chromedp.CSS(`#confirm-ok`)))
	b.waitJS("a third attempt in the timeline", attempts+` === 3`)
	b.waitJS("the third attempt marked as a manual redelivery",
		`!!document.querySelector('article`+sub+` tr[data-attempt="3"].redelivered .redelivery')`)
	if n := hook.copies(id); n != 2 {
		t.Errorf("subscriber got %d copies of %s after the redelivery, want 2", n, id)
	}
	b.run(chromedp.Click(chromedp.CSS(`#envelope summary`)))
	b.waitJS("the envelope, opened", `document.querySelector('#envelope pre').textContent.includes('"specversion": "1.0"')`)
	b.shot("06-event-redelivered")

	// Pause from the overview.
	b.run(chromedp.Click(chromedp.CSS(`#nav-overview`)))
	b.run(chromedp.Click(chromedp.CSS(`tr` + sub + ` button[data-action=pause]`)))
	b.waitJS("the pause confirmation", `document.getElementById('confirm').open`)
	b.run(chromedp.Click(chromedp.CSS(`#confirm-ok`)))
	b.waitJS("the subscriber marked paused", `!!document.querySelector('tr`+sub+`[data-paused="true"] .badge.paused')`)
	if !g.subscribers(t)["search-indexer"].Paused {
		t.Errorf("the dashboard shows search-indexer paused, the admin API does not")
	}
	b.shot("07-paused")

	// The dead delivery, from the subscriber's dead count; redelivered
	// while the subscriber is paused, it waits as pending.
	b.run(chromedp.Click(chromedp.CSS(`tr` + sub + ` a[href^="#/dead/"]`)))
	b.waitJS("the dead delivery listed", fmt.Sprintf(`!!document.querySelector('#dead tr[data-event-id=%q]')`, deadID))
	b.shot("09-dead")
	b.run(chromedp.Click(chromedp.CSS(`#dead button[data-action=redeliver-dead]`)))
	b.waitJS("the redeliver-dead confirmation", `document.getElementById('confirm').open`)
	b.run(chromedp.Click(chromedp.CSS(`#confirm-ok`)))
	b.waitJS("no dead delivery left", `!document.querySelector('#dead tr[data-event-id]') && document.querySelector('#dead .empty') !== null`)
	b.run(chromedp.Click(chromedp.CSS(`#nav-overview`)))
	b.waitJS("the redelivered one pending while paused", `document.querySelector('tr`+sub+` td[data-k=pending]').textContent === '1'`)
	b.shot("10-paused-pending")
	b.run(chromedp.Navigate(admin + "#/events/" + deadID))
	b.waitJS("the redelivered event held while paused", `!!document.querySelector('article`+sub+`[data-status="pending"]') && `+
		`document.querySelector('article`+sub+`').textContent.includes('paused')`)
	b.shot("11-event-held")
	b.dark(true)
	b.run(chromedp.Click(chromedp.CSS(`#nav-overview`)))
	b.waitJS("the overview, dark", `!!document.querySelector('tr`+sub+`[data-paused="true"]')`)
	b.shot("12-overview-dark")
	b.run(chromedp.Navigate(admin + "#/events/" + id))
	b.waitJS("the event page, dark", attempts+` === 3`)
	b.shot("13-event-dark")
	b.dark(false)

	// HTTP Basic, any user name, the token as the password: the browser's
	// own prompt, answered here through the DevTools protocol. Its changes
	// carry the dashboard's header, so resume works.
	basic := b.fresh()
	basic.answerBasic("ops", adminToken)
	basic.run(chromedp.Navigate(admin))
	basic.waitJS("the subscriber row, paused, over Basic auth", `!!document.querySelector('tr`+sub+`[data-paused="true"]')`)
	basic.waitJS("no token prompt and no token kept", `!document.querySelector('#login') && !sessionStorage.getItem('hookgate.adminToken')`)
	basic.run(chromedp.Click(chromedp.CSS(`tr` + sub + ` button[data-action=resume]`)))
	basic.waitJS("the resume confirmation", `document.getElementById('confirm').open`)
	basic.run(chromedp.Click(chromedp.CSS(`#confirm-ok`)))
	basic.waitJS("the subscriber resumed", `!!document.querySelector('tr`+sub+`[data-paused="false"] button[data-action=pause]')`)
	basic.shot("14-basic-auth-resumed")
	if g.subscribers(t)["search-indexer"].Paused {
		t.Errorf("resumed over Basic auth in the dashboard, but the admin API says paused")
	}
	hook.waitIDs(t, []string{deadID}, time.Minute) // the dead one, redelivered, went out on resume

	// A 410 Gone pauses the subscriber, reason gone: the row says so, and
	// resume clears it as any pause.
	hook.answer(410)
	g.mustAccept(product("GONE1", 58))
	basic.waitJS("the subscriber marked paused, gone", `!!document.querySelector('tr`+sub+`[data-paused-reason="gone"] .badge.paused[data-reason="gone"]')`)
	if s := g.subscribers(t)["search-indexer"]; !s.Paused || s.PausedReason != "gone" {
		t.Errorf("the dashboard shows search-indexer gone, the admin API says paused %v, paused_reason %q", s.Paused, s.PausedReason)
	}
	basic.shot("14b-paused-gone")
	basic.run(chromedp.Click(chromedp.CSS(`tr` + sub + ` button[data-action=resume]`)))
	basic.waitJS("the resume confirmation, naming the 410", `document.getElementById('confirm').open && document.getElementById('confirm').textContent.includes('410 Gone')`)
	basic.run(chromedp.Click(chromedp.CSS(`#confirm-ok`)))
	basic.waitJS("the subscriber resumed after the 410", `!!document.querySelector('tr`+sub+`[data-paused="false"][data-paused-reason=""] button[data-action=pause]')`)
	// Replay, last: it re-sends the last hour, which would reset what the
	// steps above look at. The dialog's default window is the last hour.
	sent := hook.requestCount()
	b.run(chromedp.Click(chromedp.CSS(`#nav-overview`)))
	b.run(chromedp.Click(chromedp.CSS(`tr` + sub + ` button[data-action=replay]`)))
	b.waitJS("the replay dialog", `document.getElementById('replay').open`)
	b.run(chromedp.Click(chromedp.CSS(`#replay-ok`)))
	b.waitJS("the replay's answer", `[...document.querySelectorAll('#flash .banner')].some(x => /Replay to search-indexer: [1-9][0-9]* events queued/.test(x.textContent))`)
	b.shot("15-replay")
	waitFor(t, time.Minute, "the replayed events sent", func() (bool, string) {
		return hook.requestCount() > sent, fmt.Sprintf("%d requests", hook.requestCount())
	})
	b.checkErrors()
	basic.checkErrors()
}

// chromium is the browser binary: $HOOKGATE_CHROMIUM, else Debian's
// /usr/bin/chromium, else chromium on the PATH. Missing, the test fails:
// the dashboard is part of the product, and CI installs the browser.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HOOKGATE_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found (HOOKGATE_CHROMIUM unset, no /usr/bin/chromium, none on PATH): " +
		"run scripts/deps.sh, which installs Debian's chromium, or set HOOKGATE_CHROMIUM to a Chromium or Chrome binary")
	return ""
}

// artifacts is the directory screenshots go to: $HOOKGATE_ARTIFACTS, else
// e2e/artifacts.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HOOKGATE_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts directory: %v", err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "browser-*.png"))
	for _, f := range old {
		os.Remove(f) // the last run's: what is left is this run's
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// browser is one tab of a headless Chromium, with the JavaScript
// exceptions it has seen.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string // artifacts

	mu     sync.Mutex
	thrown []string
}

// newBrowser starts Chromium with a 1440x900 window and opens a tab.
func newBrowser(t *testing.T, chrome, dir string) *browser {
	t.Helper()
	profile, err := os.MkdirTemp("", "hookgate-chromium")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", "new"),
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1440, 900),
		chromedp.UserDataDir(profile),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		// Chromium's children may write to the profile a moment after it
		// stops; a leftover temporary directory is not the test's failure.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	b := &browser{t: t, ctx: ctx, dir: dir}
	// The first Run starts the browser: no timeout on it, or the timeout
	// would end the browser too.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`1`)); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}
	b.watch()
	b.run(chromedp.EmulateViewport(1440, 900))
	return b
}

// fresh opens a tab in a new browser context: no cookies, storage or
// cached credentials shared with b.
func (b *browser) fresh() *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`1`)); err != nil {
		b.t.Fatalf("new browser context: %v", err)
	}
	nb := &browser{t: b.t, ctx: ctx, dir: b.dir}
	nb.watch()
	nb.run(chromedp.EmulateViewport(1440, 900))
	return nb
}

// watch records the uncaught JavaScript exceptions of the tab.
func (b *browser) watch() {
	events := chromedp.Events(b.ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.thrown = append(b.thrown, (&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
			b.mu.Unlock()
		}
	}()
}

// checkErrors fails the test for every uncaught exception the page threw.
func (b *browser) checkErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.thrown {
		b.t.Errorf("the dashboard threw: %s", e)
	}
}

// answerBasic answers the browser's HTTP authentication prompts with a
// user name and password, as an operator typing them would.
func (b *browser) answerBasic(user, pass string) {
	b.t.Helper()
	b.authPrompts(&fetch.AuthChallengeResponse{
		Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: user, Password: pass,
	})
}

// cancelBasic dismisses the browser's HTTP authentication prompts, as an
// operator who would rather give the page the token does.
func (b *browser) cancelBasic() {
	b.t.Helper()
	b.authPrompts(&fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth})
}

// authPrompts answers every authentication prompt of the tab with answer.
// Headless Chromium shows no prompt: without this it fails the
// navigation.
func (b *browser) authPrompts(answer *fetch.AuthChallengeResponse) {
	b.t.Helper()
	paused := chromedp.Events(b.ctx, fetch.RequestPaused)
	auth := chromedp.Events(b.ctx, fetch.AuthRequired)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		for ev, err := range auth {
			if err != nil {
				return
			}
			chromedp.Call(b.ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: answer})
		}
	}()
	handle := true
	if _, err := chromedp.Call(b.ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &handle}); err != nil {
		b.t.Fatalf("Fetch.enable: %v", err)
	}
}

// run runs the steps, each within a generous deadline (two shared cores).
func (b *browser) run(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail("browser step: %v", err)
	}
}

// waitJS polls until the JavaScript expression is true.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last string
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if err != nil {
			last = err.Error()
		} else {
			last = "false"
		}
		if time.Now().After(deadline) {
			b.fail("%s: not so within a minute (%s: %s)", what, expr, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fail saves a screenshot and what the page said, then fails the test.
func (b *browser) fail(format string, args ...any) {
	b.t.Helper()
	b.shot("FAILED")
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + '\n' + document.body.innerText.slice(0, 3000)`))
	b.t.Fatalf(format+"\npage:\n%s", append(args, text)...)
}

// shot saves a full-page PNG as browser-NAME.png in the artifacts.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	// Let a render that the last step started settle.
	time.Sleep(300 * time.Millisecond)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.dir, "browser-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("save %s: %v", path, err)
		return
	}
	b.t.Logf("screenshot: %s", path)
}

// dark switches the emulated colour scheme.
func (b *browser) dark(on bool) {
	b.t.Helper()
	scheme := "light"
	if on {
		scheme = "dark"
	}
	_, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	if err != nil {
		b.t.Fatalf("emulate %s: %v", scheme, err)
	}
}
