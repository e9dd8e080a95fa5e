package config_test

import (
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hookgate/hookgate/gateway"
)

// TestByteSizeYAML: yaml.v3 reads and writes a gateway.ByteSize through
// its text methods, as Redacted relies on.
func TestByteSizeYAML(t *testing.T) {
	var v struct {
		A gateway.ByteSize `yaml:"a"`
		B gateway.ByteSize `yaml:"b"`
	}
	if err := yaml.Unmarshal([]byte("a: 5MB\nb: 2048\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != 5<<20 || v.B != 2048 {
		t.Errorf("got a=%d b=%d, want %d 2048", v.A, v.B, 5<<20)
	}
	if err := yaml.Unmarshal([]byte("a: lots\n"), &v); err == nil {
		t.Error("a: lots decoded, want an error")
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "a: 5MB\nb: 2KB\n"; got != want {
		t.Errorf("Marshal = %q, want %q", got, want)
	}
}
