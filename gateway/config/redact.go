package config

import (
	"fmt"
	"net/url"

	"gopkg.in/yaml.v3"

	"github.com/hookgate/hookgate/gateway"
)

// redacted stands in for a secret, as gateway.Secret prints itself.
var redacted = gateway.Secret("").String()

// Redacted renders c as YAML with every secret replaced by
// "[redacted]": Secret fields, subscriber header values (often
// credentials), passwords in subscriber URLs and what an OAuth2
// token_url may carry (gateway.RedactURL). Safe to log or show in
// the admin API.
func Redacted(c *gateway.Config) string {
	shown := *c
	shown.Subscribers = make(map[string]*gateway.SubscriberConfig, len(c.Subscribers))
	for name, sub := range c.Subscribers {
		if sub == nil {
			continue
		}
		cp := *sub
		if u, err := url.Parse(cp.URL); err == nil {
			cp.URL = u.Redacted()
			if u.User != nil && cp.IsQueue() {
				// A broker URL's user name may be the credential itself
				// (a NATS token): the whole userinfo goes, as the admin
				// API shows it.
				cp.URL = gateway.RedactURL(sub.URL)
			}
		}
		cp.Headers = make(map[string]string, len(sub.Headers))
		for k := range sub.Headers {
			cp.Headers[k] = redacted
		}
		if o := sub.Auth.OAuth2; o != nil {
			oc := *o // client_secret redacts itself
			oc.TokenURL = gateway.RedactURL(o.TokenURL)
			cp.Auth.OAuth2 = &oc
		}
		shown.Subscribers[name] = &cp
	}
	var doc yaml.Node
	if err := doc.Encode(&shown); err != nil {
		return fmt.Sprintf("config: %v", err)
	}
	if r := c.Store.Redis; r != nil {
		// min_replicas as the file writes it: auto, or the count as an
		// int, which the decoder requires.
		if n := mappingValue(&doc, "store", "redis", "min_replicas"); n != nil {
			tag := "!!str"
			if r.MinReplicas.Fixed {
				tag = "!!int"
			}
			*n = yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: r.MinReplicas.String()}
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return fmt.Sprintf("config: %v", err)
	}
	return string(out)
}

// mappingValue returns the node at path in a tree of mappings, or nil.
func mappingValue(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		var next *yaml.Node
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}
