package routes

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// subscriberView is one row of GET /admin/api/subscribers. A removed
// subscriber (no longer in the config, but with pending or dead
// deliveries still in the store) has no url, since the config held it,
// and no breaker, since nothing is sent to it: both are "".
type subscriberView struct {
	Name          string     `json:"name"`
	URL           string     `json:"url"`
	Breaker       string     `json:"breaker"`
	Paused        bool       `json:"paused"`
	Removed       bool       `json:"removed"`
	Pending       int64      `json:"pending"`
	Dead          int64      `json:"dead"`
	Delivered     int64      `json:"delivered"`
	LastSuccessAt *time.Time `json:"last_success_at"` // null: never
	LastError     string     `json:"last_error"`
}

// subscribers is GET /admin/api/subscribers: the configured subscribers
// and the removed ones, sorted by name.
func (a *admin) subscribers(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cfg := a.Ingester.Config()
	removed, err := a.removedNames(ctx)
	if err != nil {
		return fmt.Errorf("admin subscribers: %w", err)
	}
	out := make([]subscriberView, 0, len(cfg.Subscribers)+len(removed))
	for _, name := range a.subscriberNames() {
		v, err := a.subscriberRow(ctx, name)
		if err != nil {
			return err
		}
		v.URL = redactURL(cfg.Subscribers[name].URL)
		v.Breaker = a.Engine.Breaker(name)
		out = append(out, v)
	}
	for _, name := range removed {
		v, err := a.subscriberRow(ctx, name)
		if err != nil {
			return err
		}
		v.Removed = true
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return c.JSON(out)
}

// subscriberRow fills what the store knows of a subscriber.
func (a *admin) subscriberRow(ctx context.Context, name string) (subscriberView, error) {
	st, err := a.Store.Stats(ctx, name)
	if err != nil {
		return subscriberView{}, fmt.Errorf("admin stats %s: %w", name, err)
	}
	paused, err := a.Store.Paused(ctx, name)
	if err != nil {
		return subscriberView{}, fmt.Errorf("admin paused %s: %w", name, err)
	}
	v := subscriberView{
		Name:      name,
		Paused:    paused,
		Pending:   st.Pending,
		Dead:      st.Dead,
		Delivered: st.Delivered,
		LastError: st.LastError,
	}
	if !st.LastSuccessAt.IsZero() {
		t := st.LastSuccessAt
		v.LastSuccessAt = &t
	}
	return v, nil
}

// purge is DELETE /admin/api/subscribers/{name}/deliveries: 200
// {purged: N}, the pending, retrying and dead deliveries of a removed
// subscriber deleted. A configured subscriber's work is its dispatcher's,
// so purging it is a 409: remove it from the config first.
func (a *admin) purge(c *fiber.Ctx) error {
	q := c.Params("name")
	if _, ok := a.Ingester.Config().Subscribers[q]; ok {
		return fiber.NewError(fiber.StatusConflict, fmt.Sprintf(
			"subscriber %q is in the config: only a removed subscriber's deliveries can be purged", q))
	}
	ctx := c.UserContext()
	name, err := a.knownSubscriber(ctx, q)
	if err != nil {
		return err
	}
	n, err := a.Store.Purge(ctx, name)
	if err != nil {
		return fmt.Errorf("admin purge %s: %w", name, err)
	}
	a.Logger.Info("purged a removed subscriber's deliveries", "subscriber", name, "purged", n)
	return c.JSON(fiber.Map{"purged": n})
}

// subscriberNames lists the configured subscribers, sorted.
func (a *admin) subscriberNames() []string {
	subs := a.Ingester.Config().Subscribers
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// removedNames lists, sorted, the subscribers the store holds pending or
// dead deliveries for that are not in the config in force.
func (a *admin) removedNames(ctx context.Context) ([]string, error) {
	held, err := a.Store.Subscribers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list store subscribers: %w", err)
	}
	subs := a.Ingester.Config().Subscribers
	var out []string
	for _, n := range held {
		if _, ok := subs[n]; !ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// subscriberName returns the config's own copy of a configured
// subscriber's name, which outlives the request buffer q points into.
func (a *admin) subscriberName(q string) (string, bool) {
	sub, ok := a.Ingester.Config().Subscribers[q]
	if !ok {
		return "", false
	}
	if sub.Name != "" {
		return sub.Name, true
	}
	return strings.Clone(q), true
}

// knownSubscriber resolves q to a configured subscriber or a removed one
// whose work is still in the store (a copy that outlives the request); a
// 404 for any other name.
func (a *admin) knownSubscriber(ctx context.Context, q string) (string, error) {
	if name, ok := a.subscriberName(q); ok {
		return name, nil
	}
	removed, err := a.removedNames(ctx)
	if err != nil {
		return "", fmt.Errorf("admin subscriber %s: %w", q, err)
	}
	if i, ok := sort.Find(len(removed), func(i int) int { return strings.Compare(q, removed[i]) }); ok {
		return removed[i], nil
	}
	return "", unknownSubscriber(q)
}

// secretSegment reports whether a path segment may be a token: 16
// characters or more with a digit in them, or with no word separator
// (- _ . ~), as random tokens are and words joined by dashes are not.
func secretSegment(s string) bool {
	if len(s) < 16 {
		return false
	}
	return strings.ContainsAny(s, "0123456789") || !strings.ContainsAny(s, "-_.~")
}

func unknownSubscriber(name string) error {
	return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("unknown subscriber %q", name))
}

// redacted stands in for every secret-bearing part of a URL the admin API
// shows.
const redacted = "redacted"

// redactURL shows a subscriber URL without what may be a secret: the
// userinfo as a whole (a password, or an API key used as the user name)
// becomes "redacted", every query value becomes "redacted" (the keys
// stay, so an operator still sees which parameters are set; a key
// without a value, which may itself be a token, is redacted too), a
// fragment is dropped, and a path segment that looks like a token
// (secretSegment: Slack's and Discord's webhook URLs carry theirs in the
// path) becomes "redacted". Scheme, host, port and the rest of the path
// are shown as configured. A URL that does not parse is not shown at all.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if segs := strings.Split(u.EscapedPath(), "/"); slices.ContainsFunc(segs, secretSegment) {
		for i, s := range segs {
			if secretSegment(s) {
				segs[i] = redacted
			}
		}
		p, err := url.PathUnescape(strings.Join(segs, "/"))
		if err != nil {
			return ""
		}
		u.Path, u.RawPath = p, ""
	}
	if u.User != nil {
		u.User = url.User(redacted)
	}
	if u.RawQuery != "" || u.ForceQuery {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			if k, _, ok := strings.Cut(p, "="); ok {
				parts[i] = k + "=" + redacted
			} else if p != "" {
				parts[i] = redacted
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}
