package cli

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

func TestMainDispatch(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // substring
		wantStderr string // substring
	}{
		{"version", []string{"version"}, 0, "hookgate dev", ""},
		{"--version", []string{"--version"}, 0, "hookgate dev", ""},
		{"-version", []string{"-version"}, 0, "hookgate dev", ""},
		{"help", []string{"help"}, 0, "usage:", ""},
		{"-h", []string{"-h"}, 0, "usage:", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"serve bad flag", []string{"serve", "-nope"}, 2, "", "flag provided but not defined: -nope"},
		{"serve extra argument", []string{"serve", "extra"}, 2, "", `unexpected argument "extra"`},
		{"serve bad log format", []string{"-log-format", "xml"}, 2, "", "want text, json or auto"},
		{"serve missing config", []string{"-config", "/nonexistent/config.yaml"}, 1, "", "/nonexistent/config.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := Main(tt.args, &stdout, &stderr); got != tt.wantCode {
				t.Errorf("exit = %d, want %d (stderr %q)", got, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestConfigPathDefault(t *testing.T) {
	tests := []struct {
		env  string
		want string
	}{
		{"", "config.yaml"},
		{"/etc/hookgate/config.yaml", "/etc/hookgate/config.yaml"},
	}
	for _, tt := range tests {
		t.Setenv("HOOKGATE_CONFIG", tt.env)
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		p := configPathFlag(fs)
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		if *p != tt.want {
			t.Errorf("HOOKGATE_CONFIG=%q: -config default = %q, want %q", tt.env, *p, tt.want)
		}
	}
}
