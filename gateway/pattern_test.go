package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern, typ string
		want         bool
	}{
		{"**", "iimmpact.product.updated", true},
		{"**", "x", true},
		{"iimmpact.product.*", "iimmpact.product.updated", true},
		{"iimmpact.product.*", "iimmpact.product", false},
		{"iimmpact.product.*", "iimmpact.product.updated.extra", false},
		{"iimmpact.product.*", "catalog360.product.updated", false},
		{"*.option.**", "iimmpact.option.created", true},
		{"*.option.**", "iimmpact.option", true},
		{"*.option.**", "iimmpact.option.a.b.c", true},
		{"*.option.**", "iimmpact.product.created", false},
		{"**.deleted", "catalog360.assetitem.deleted", true},
		{"**.deleted", "deleted", true},
		{"**.deleted", "catalog360.assetitem.updated", false},
		{"a.**.z", "a.z", true},
		{"a.**.z", "a.b.c.z", true},
		{"a.**.z", "a.b.c", false},
		{"*", "a", true},
		{"*", "a.b", false},
		{"iimmpact.product.updated", "iimmpact.product.updated", true},
		{"iimmpact.product.updated", "iimmpact.product.created", false},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tt.pattern, err)
		}
		if got := p.Match(tt.typ); got != tt.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tt.pattern, tt.typ, got, tt.want)
		}
	}
}

func TestParsePatternErrors(t *testing.T) {
	for _, bad := range []string{"", "a..b", ".a", "a.", "product*", "a.**x"} {
		if _, err := ParsePattern(bad); err == nil {
			t.Errorf("ParsePattern(%q): no error, want one", bad)
		}
	}
}

func TestRoutes(t *testing.T) {
	mk := func(events []string, sources []string) *SubscriberConfig {
		s := &SubscriberConfig{Events: events, Sources: sources}
		for _, e := range events {
			p, err := ParsePattern(e)
			if err != nil {
				t.Fatal(err)
			}
			s.Patterns = append(s.Patterns, p)
		}
		return s
	}
	c := &Config{Subscribers: map[string]*SubscriberConfig{
		"all":    mk([]string{"**"}, nil),
		"search": mk([]string{"iimmpact.product.*"}, []string{"iimmpact"}),
		"opts":   mk([]string{"*.option.**"}, nil),
	}}
	tests := []struct {
		source, typ string
		want        []string
	}{
		{"iimmpact", "iimmpact.product.updated", []string{"all", "search"}},
		{"other", "iimmpact.product.updated", []string{"all"}},
		{"iimmpact", "iimmpact.option.deleted", []string{"all", "opts"}},
	}
	for _, tt := range tests {
		got := c.Routes(tt.source, tt.typ)
		if len(got) != len(tt.want) {
			t.Errorf("Routes(%q, %q) = %v, want %v", tt.source, tt.typ, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("Routes(%q, %q) = %v, want %v", tt.source, tt.typ, got, tt.want)
			}
		}
	}
}

func TestKeysNeverPrint(t *testing.T) {
	sub := SubscriberConfig{Name: "s", SigningKeys: Keys{[]byte("TOPSECRETKEYBYTES")}, Secrets: []Secret{"whsec_TOPSECRET"}}
	for _, out := range []string{
		fmt.Sprintf("%v", sub), fmt.Sprintf("%+v", sub), fmt.Sprintf("%#v", sub),
		fmt.Sprintf("%s", sub.SigningKeys), fmt.Sprintf("%x", sub.SigningKeys),
	} {
		if strings.Contains(out, "TOPSECRET") || strings.Contains(out, "544f50") || strings.Contains(out, "84 79 80") {
			t.Errorf("secret material printed: %s", out)
		}
	}
	b, err := json.Marshal(sub)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "TOPSECRET") || strings.Contains(string(b), "VE9QU0VDUkVU") {
		t.Errorf("secret material in JSON: %s", b)
	}
}
