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

// floorSecretEnv carries the floor server's iimmpact secret to its
// process, keeping it out of the argument list that ps shows.
const floorSecretEnv = "HOOKBENCH_FLOOR_SECRET"

// floorStream is the Redis stream the floor appends every request to.
const floorStream = "floor"

// runFloorBench measures the floor: the bare handler on its own
// redis-server, loaded closed loop (never at -rate: it is the reference
// every other figure is divided by) with the iimmpact requests of the same
// generator.
func runFloorBench(ctx context.Context, o options) (*runResult, error) {
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
	fo := o
	fo.Requests = o.FloorN
	gen, err := loadgen.NewGenerator(plan(fo, 0, secret, randomHex(32)))
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
	srv, err := startProc("floor", filepath.Join(dir, "floor.log"), []string{floorSecretEnv + "=" + secret},
		self, "-serve-floor", "-listen", addr, "-redis", rdb.URL())
	if err != nil {
		return nil, err
	}
	defer srv.stop(stopGrace)
	if err := srv.waitReady(ctx, "http://"+addr+"/readyz", 30*time.Second); err != nil {
		return nil, err
	}

	res := &runResult{Run: runFloor, Store: "redis", Requests: gen.Requests(), Events: gen.Events()}
	cpu := startCPU(srv, rdb)
	load := loadgen.Load{Addr: addr, Gen: gen, Concurrency: o.Concurrency,
		Duration: o.Duration, Timeout: o.Timeout, Now: time.Now}.Run(ctx)
	res.Load = &load
	res.CPU = cpu.stop(load.Accepted)
	code, took := srv.stop(stopGrace)
	res.PeakRSS = srv.peakRSS()
	res.ExitCode, res.ExitTook = &code, took
	if code != 0 {
		res.ExitLog = srv.logTail()
	}
	res.finish()
	// One XADD per accepted request: anything else means the floor did
	// less (or more) work than it claims.
	if n, err := streamLen(ctx, rdb.URL(), floorStream); err != nil {
		res.Failures = append(res.Failures, err.Error())
	} else if n != int64(load.Accepted) {
		res.Failures = append(res.Failures, fmt.Sprintf("floor appended %d entries for %d accepted requests", n, load.Accepted))
	}
	return res, nil
}

// streamLen returns XLEN of stream in the Redis at url.
func streamLen(ctx context.Context, url, stream string) (int64, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return 0, fmt.Errorf("redis url: %w", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	n, err := c.XLen(ctx, stream).Result()
	if err != nil {
		return 0, fmt.Errorf("%s xlen: %w", stream, err)
	}
	return n, nil
}

// serveFloor is the floor server: one Fiber route that checks the
// iimmpact HMAC and makes one Redis XADD per request, the least any
// verifying, persisting webhook receiver does. It serves until ctx ends.
func serveFloor(ctx context.Context, listen, redisURL, secret string) error {
	if listen == "" || redisURL == "" || secret == "" {
		return errors.New("need -listen, -redis and " + floorSecretEnv)
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
	app.Post("/webhooks/iimmpact", floorHandler(rdb, []byte(secret)))

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

// floorHandler verifies X-Webhook-Signature over the raw body and appends
// the body, with its signature, to one stream.
func floorHandler(rdb *redis.Client, secret []byte) fiber.Handler {
	return func(c *fiber.Ctx) error {
		sig := c.Get(loadgen.IimmpactHeader)
		body := c.Body()
		if !verifyIimmpact(secret, sig, body) {
			return c.SendStatus(fiber.StatusUnauthorized)
		}
		// The XADD completes before the handler returns, so Fiber's reused
		// body buffer is safe to pass without a copy.
		err := rdb.XAdd(c.UserContext(), &redis.XAddArgs{Stream: floorStream, Values: []any{"sig", sig, "body", body}}).Err()
		if err != nil {
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
