package redisproc

import (
	"os"
	"strings"
	"testing"
)

func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hgredis")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestTCP: a server on TCP answers at its address, not on a socket; Pause
// silences it until Continue; Kill ends it, and Restart brings it back on
// the same port.
func TestTCP(t *testing.T) {
	s, err := StartTCP(tempDir(t), "everysec")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	if s.Socket() != "" || !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Socket, Addr = %q, %q; want none and 127.0.0.1:PORT", s.Socket(), s.Addr())
	}
	if got, want := s.URL(), "redis://"+s.Addr(); got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	if err := PingAddr(s.Addr()); err != nil {
		t.Fatalf("PingAddr after StartTCP: %v", err)
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(); err == nil {
		t.Error("Ping of a paused server succeeded, want a timeout")
	}
	if err := s.Continue(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(); err != nil {
		t.Errorf("Ping after Continue: %v", err)
	}
	if _, err := s.Do("SET", "k", "v"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	s.Kill()
	if err := s.Ping(); err == nil {
		t.Error("Ping after Kill succeeded, want an error")
	}
	if err := s.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if got, err := s.Do("GET", "k"); err != nil || got != "v" {
		t.Errorf("GET k after Restart = %q, %v; want v (appendfsync everysec, written a while ago)", got, err)
	}
}

// TestTCPArgs: extra arguments reach the server, and a bad one is reported
// with the server's own words.
func TestTCPArgs(t *testing.T) {
	s, err := StartTCP(tempDir(t), "everysec", "--maxmemory-policy", "noeviction", "--databases", "3")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	if _, err := s.Do("SELECT", "3"); err == nil {
		t.Error("SELECT 3 with --databases 3 succeeded, want an error")
	}
	_, err = StartTCP(tempDir(t), "everysec", "--no-such-option", "x")
	if err == nil || !strings.Contains(err.Error(), "no-such-option") {
		t.Errorf("StartTCP with a bad option: got %v, want the server's complaint naming it", err)
	}
}

// TestTCPDistinctPorts: servers started together get ports of their own.
func TestTCPDistinctPorts(t *testing.T) {
	seen := map[string]bool{}
	for range 4 {
		s, err := StartTCP(tempDir(t), "everysec")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Kill)
		if seen[s.Addr()] {
			t.Fatalf("address %s handed out twice", s.Addr())
		}
		seen[s.Addr()] = true
	}
}

func TestDoReplies(t *testing.T) {
	s, err := Start(tempDir(t), "everysec")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{"status", []string{"SET", "a", "1"}, "OK", ""},
		{"bulk", []string{"GET", "a"}, "1", ""},
		{"null", []string{"GET", "missing"}, "", ""},
		{"integer", []string{"INCR", "a"}, "2", ""},
		{"error", []string{"NOSUCHCMD"}, "", "ERR unknown command"},
	}
	for _, tc := range tests {
		got, err := s.Do(tc.args...)
		if tc.wantErr != "" {
			if _, ok := err.(ReplyError); !ok || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: got error %v, want a ReplyError with %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}
