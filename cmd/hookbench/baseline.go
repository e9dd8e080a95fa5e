package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/internal/loadgen"
)

// modeBaselineServer is the internal mode in which hookbench runs the
// baseline server as its own process, so that it shares the CPUs with the
// load generator exactly as the gateway binary does.
const modeBaselineServer = "baseline-server"

// baselineSecretEnv carries the baseline's iimmpact secret to its process,
// keeping it out of the argument list that ps shows.
const baselineSecretEnv = "HOOKBENCH_BASELINE_SECRET"

// runBaseline benchmarks the bare handler on its own redis-server with the
// iimmpact requests of the same generator.
func runBaseline(ctx context.Context, o options) (*runResult, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	dir, cleanup, err := runDir(o.Keep)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	secret := randomHex(32)
	gen, err := loadgen.NewGenerator(plan(o, 0, secret, randomHex(32)))
	if err != nil {
		return nil, err
	}
	rdb, err := loadgen.StartRedis(filepath.Join(dir, "redis"))
	if err != nil {
		return nil, err
	}
	defer rdb.Stop()
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	srv, err := startProc("baseline", filepath.Join(dir, "baseline.log"), []string{baselineSecretEnv + "=" + secret},
		self, "-mode", modeBaselineServer, "-listen", addr, "-redis", rdb.URL())
	if err != nil {
		return nil, err
	}
	defer srv.stop(stopGrace)
	if err := srv.waitReady(ctx, "http://"+addr+"/readyz", 30*time.Second); err != nil {
		return nil, err
	}

	res := &runResult{Kind: "baseline", Store: "redis", Requests: gen.Requests(), Events: gen.Events()}
	res.Load = loadgen.Load{Addr: addr, Gen: gen, Concurrency: o.Concurrency, Rate: o.Rate,
		Duration: o.Duration, Timeout: o.Timeout, Now: time.Now}.Run(ctx)
	code, took := srv.stop(stopGrace)
	res.PeakRSS = srv.peakRSS()
	res.ExitCode, res.ExitTook = &code, took
	if code != 0 {
		res.ExitLog = srv.logTail()
	}
	res.finish()
	// One SET per accepted request, each under its own key: anything else
	// means the baseline did less (or more) work than it claims.
	if keys, err := countKeys(ctx, rdb.URL()); err != nil {
		res.Failures = append(res.Failures, err.Error())
	} else if keys != int64(res.Load.Accepted) {
		res.Failures = append(res.Failures, fmt.Sprintf("baseline stored %d keys for %d accepted requests", keys, res.Load.Accepted))
	}
	return res, nil
}

// countKeys returns DBSIZE of the Redis at url.
func countKeys(ctx context.Context, url string) (int64, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return 0, fmt.Errorf("redis url: %w", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		return 0, fmt.Errorf("baseline dbsize: %w", err)
	}
	return n, nil
}

// serveBaseline is the baseline server: one Fiber route that checks the
// iimmpact HMAC and makes one Redis SET per request, the least any
// verifying, persisting webhook receiver does. It serves until ctx ends.
func serveBaseline(ctx context.Context, listen, redisURL, secret string) error {
	if listen == "" || redisURL == "" || secret == "" {
		return errors.New("need -listen, -redis and " + baselineSecretEnv)
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("redis url: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}

	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/readyz", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	app.Post("/webhooks/iimmpact", baselineHandler(rdb, []byte(secret)))

	errc := make(chan error, 1)
	go func() { errc <- app.Listen(listen) }()
	select {
	case err := <-errc:
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}
	if err := app.ShutdownWithTimeout(10 * time.Second); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// baselineHandler verifies X-Webhook-Signature over the raw body and
// stores the body under a key made of its signature, unique per body.
func baselineHandler(rdb *redis.Client, secret []byte) fiber.Handler {
	return func(c *fiber.Ctx) error {
		sig := c.Get(loadgen.IimmpactHeader)
		body := c.Body()
		if !verifyIimmpact(secret, sig, body) {
			return c.SendStatus(fiber.StatusUnauthorized)
		}
		// The SET completes before the handler returns, so Fiber's reused
		// body buffer is safe to pass without a copy.
		if err := rdb.Set(c.UserContext(), "baseline:"+sig[len("sha256="):], body, 0).Err(); err != nil {
			return c.SendStatus(fiber.StatusServiceUnavailable)
		}
		return c.SendStatus(fiber.StatusOK)
	}
}

// verifyIimmpact checks an iimmpact signature header in constant time.
func verifyIimmpact(secret []byte, header string, body []byte) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
