package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/hookgate/hookgate/gateway"
)

// httpOnly refuses, on an http subscriber, the keys that only a queue
// destination reads.
func (v *validator) httpOnly(key string, sub *gateway.SubscriberConfig) {
	if len(sub.Addrs) > 0 {
		v.add(key+".addrs", "only for kind: kafka (more seed brokers); an http subscriber has its url")
	}
	if sub.Topic != "" {
		v.add(key+".topic", "only for a queue destination (kind: %s)", strings.Join(queueKinds(), " | "))
	}
}

// destination checks a queue destination: a registered kind, a broker
// URL of its scheme (never quoted: it may hold a password), a topic,
// addrs only where the kind takes them, headers only where its messages
// carry them.
func (v *validator) destination(key string, sub *gateway.SubscriberConfig) {
	d, err := gateway.LookupDestination(sub.Kind)
	if err != nil {
		v.add(key+".kind", "must be %s", strings.Join(gateway.DestinationKinds(), " | "))
		return
	}
	schemes := strings.Join(d.Schemes, "://, ") + "://"
	if sub.URL == "" {
		v.add(key+".url", "required for kind: %s (the broker, %s)%s", sub.Kind, schemes, v.emptyHint(key+".url"))
	} else if u, err := url.Parse(sub.URL); err != nil || !slices.Contains(d.Schemes, u.Scheme) || (u.Host == "" && u.Scheme != "unix") {
		v.add(key+".url", "must be a broker URL for kind: %s (%s host:port)", sub.Kind, schemes)
	} else if d.Check != nil {
		if err := d.Check(u); err != nil {
			v.add(key+".url", "%v", err)
		}
	}
	if sub.Topic == "" {
		v.add(key+".topic", "required for kind: %s (%s)%s", sub.Kind, d.Topic, v.emptyHint(key+".topic"))
	} else if strings.ContainsFunc(sub.Topic, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		v.add(key+".topic", "must not contain spaces or control characters")
	}
	if len(sub.Addrs) > 0 && !d.Addrs {
		v.add(key+".addrs", "not for kind: %s, which takes one broker in url", sub.Kind)
	}
	for i, a := range sub.Addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			v.add(fmt.Sprintf("%s.addrs[%d]", key, i), "must be host:port")
		}
	}
	// tls and auth are an HTTP client's: a broker's TLS and credentials
	// go in its url (rediss://, tls://, user info).
	if sub.TLS.Set() {
		v.add(key+".tls", "not for kind: %s: a broker's TLS is chosen by its url's scheme", sub.Kind)
	}
	if sub.Auth.OAuth2 != nil {
		v.add(key+".auth", "not for kind: %s: a broker's credentials go in its url", sub.Kind)
	}
	if len(sub.Headers) > 0 && !d.Headers {
		v.add(key+".headers", "kind: %s messages carry no headers of their own (the entry's fields are id, timestamp, signature and body)", sub.Kind)
	}
}

// queueKinds lists the registered kinds other than http.
func queueKinds() []string {
	var out []string
	for _, k := range gateway.DestinationKinds() {
		if k != gateway.KindHTTP {
			out = append(out, k)
		}
	}
	return out
}
