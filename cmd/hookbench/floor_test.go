package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/internal/loadgen"
	"github.com/hookgate/hookgate/internal/testredis"
)

func TestVerifyIimmpact(t *testing.T) {
	secret, body := []byte("s3cret"), []byte(`{"type":"product.updated"}`)
	good := loadgen.SignIimmpact(body, secret)
	tests := []struct {
		name, header string
		want         bool
	}{
		{"valid", good, true},
		{"other secret", loadgen.SignIimmpact(body, []byte("other")), false},
		{"no prefix", good[len("sha256="):], false},
		{"not hex", "sha256=zz", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		if got := verifyIimmpact(secret, tt.header, body); got != tt.want {
			t.Errorf("%s: verifyIimmpact = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFloorHandlerAppendsOnlyAuthenticBodies(t *testing.T) {
	srv := testredis.Start(t)
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	secret := []byte("s3cret")
	app := fiber.New()
	app.Post("/webhooks/iimmpact", floorHandler(rdb, secret))

	body := []byte(`{"type":"product.updated","id":"A"}`)
	tests := []struct {
		name, sig string
		want      int
	}{
		{"authentic", loadgen.SignIimmpact(body, secret), 200},
		{"forged", loadgen.SignIimmpact(body, []byte("guess")), 401},
		{"unsigned", "", 401},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("POST", "/webhooks/iimmpact", bytes.NewReader(body))
		if tt.sig != "" {
			req.Header.Set(loadgen.IimmpactHeader, tt.sig)
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
	n, err := streamLen(context.Background(), srv.URL(), floorStream)
	if err != nil || n != 1 {
		t.Fatalf("XLEN = %d (%v), want 1 entry for the one authentic request", n, err)
	}
	entries, err := rdb.XRange(context.Background(), floorStream, "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("XRANGE = %v (%v), want one entry", entries, err)
	}
	if got := entries[0].Values["body"]; got != string(body) {
		t.Errorf("stored %q, want the body", got)
	}
}
