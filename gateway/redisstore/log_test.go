package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The client's messages come out as slog records of the default logger,
// at most one per interval, the next one counting those left out.
func TestClientLog(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	l := &clientLog{every: time.Hour}
	ctx := context.Background()
	l.Printf(ctx, "dial %s: %s", "127.0.0.1:6379", "connection refused")
	l.Printf(ctx, "dial again")
	l.Printf(ctx, "and again")
	l.last = time.Now().Add(-2 * time.Hour) // the interval is over
	l.Printf(ctx, "dial %d", 4)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2 (one per interval):\n%s", len(lines), buf.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first["level"] != "WARN" || first["detail"] != "dial 127.0.0.1:6379: connection refused" || first["not_logged"] != nil {
		t.Errorf("first line = %v", first)
	}
	if second["detail"] != "dial 4" || second["not_logged"] != float64(2) {
		t.Errorf("second line = %v, want detail 'dial 4' and not_logged 2", second)
	}
}
