package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/internal/loadgen"
)

// The lean relay's process takes its secrets from the environment, as the
// floor does, so that ps never shows them: the iimmpact secret, and its
// subscribers, one "<url> <whsec_...>" per line (none: ingest only).
const (
	relaySecretEnv = "HOOKBENCH_RELAY_SECRET"
	relaySubsEnv   = "HOOKBENCH_RELAY_SUBSCRIBERS"
)

// The lean relay's fixed shape (docs/benchmarks.md): one stream, one
// consumer group per subscriber, XREADGROUP COUNT 64 BLOCK 100ms, 64 POSTs
// in flight per subscriber.
const (
	relayStream   = "relay"
	relayBatch    = 64
	relayInFlight = 64
	relayBlock    = 100 * time.Millisecond
)

// relayTarget is one subscriber of the relay: where to POST, and the key
// of its Standard Webhooks secret.
type relayTarget struct {
	URL string
	Key []byte
}

// formatRelayTargets renders subs for relaySubsEnv.
func formatRelayTargets(subs []subscriber) string {
	var b strings.Builder
	for _, s := range subs {
		fmt.Fprintf(&b, "%s %s\n", s.URL, s.Secret)
	}
	return b.String()
}

// parseRelayTargets reads relaySubsEnv's value.
func parseRelayTargets(s string) ([]relayTarget, error) {
	var ts []relayTarget
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		url, secret, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			return nil, fmt.Errorf("%s: want \"<url> <whsec_...>\" per line", relaySubsEnv)
		}
		key, err := loadgen.DecodeWhsec(strings.TrimSpace(secret))
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", relaySubsEnv, url, err)
		}
		ts = append(ts, relayTarget{URL: url, Key: key})
	}
	return ts, nil
}

// relayGroup is the consumer group of the relay's i-th subscriber
// (counted from 1).
func relayGroup(i int) string { return "sub-" + strconv.Itoa(i) }

// serveRelay is the lean relay: the floor's ingest (Fiber, HMAC check, one
// XADD, 200) and, for each subscriber, one consumer group read and POSTed
// by relayLoop. With hold, delivery waits for POST /start, so that a drain
// is timed from a running process, as hookgate's is from a resume. It
// serves until ctx ends.
func serveRelay(ctx context.Context, listen, redisURL, secret, subs string, hold bool) error {
	if listen == "" || redisURL == "" || secret == "" {
		return errors.New("need -listen, -redis and " + relaySecretEnv)
	}
	targets, err := parseRelayTargets(subs)
	if err != nil {
		return err
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("redis url: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	// Groups read the stream from its start, so that a backlog written
	// before this process is delivered.
	for i := range targets {
		err := rdb.XGroupCreateMkStream(ctx, relayStream, relayGroup(i+1), "0").Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("create group %s: %w", relayGroup(i+1), err)
		}
	}

	start := make(chan struct{})
	var once sync.Once
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/readyz", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	app.Post("/webhooks/iimmpact", relayHandler(rdb, []byte(secret)))
	app.Post("/start", func(c *fiber.Ctx) error {
		once.Do(func() { close(start) })
		return c.SendStatus(fiber.StatusOK)
	})
	if !hold {
		once.Do(func() { close(start) })
	}

	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: relayInFlight, IdleConnTimeout: 90 * time.Second}}
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-start:
			case <-dctx.Done():
				return
			}
			l := relayLoop{rdb: rdb, client: client, group: relayGroup(i + 1), target: t, now: time.Now}
			l.run(dctx)
		}()
	}

	errc := make(chan error, 1)
	go func() { errc <- app.Listen(listen) }()
	select {
	case err := <-errc:
		cancel()
		wg.Wait()
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}
	err = app.ShutdownWithTimeout(10 * time.Second)
	cancel()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// relayHandler is the floor's handler with only the body stored: verify
// X-Webhook-Signature over the raw body, one XADD, 200.
func relayHandler(rdb *redis.Client, secret []byte) fiber.Handler {
	return func(c *fiber.Ctx) error {
		body := c.Body()
		if !verifyIimmpact(secret, c.Get(loadgen.IimmpactHeader), body) {
			return c.SendStatus(fiber.StatusUnauthorized)
		}
		// The XADD completes before the handler returns: no copy needed.
		err := rdb.XAdd(c.UserContext(), &redis.XAddArgs{Stream: relayStream, Values: []any{"body", body}}).Err()
		if err != nil {
			return c.SendStatus(fiber.StatusServiceUnavailable)
		}
		return c.SendStatus(fiber.StatusOK)
	}
}

// relayLoop delivers one consumer group to one subscriber: a reader feeds
// relayInFlight posters through a channel of relayBatch, and an acker
// XACKs the 2xx ones in batches of what has gathered. Nothing is retried:
// an entry not answered 2xx stays pending in the group.
type relayLoop struct {
	rdb    *redis.Client
	client *http.Client
	group  string
	target relayTarget
	now    func() time.Time
}

// run delivers until ctx ends; POSTs in flight then are cancelled and
// their entries stay pending.
func (l relayLoop) run(ctx context.Context) {
	work := make(chan redis.XMessage, relayBatch)
	acks := make(chan string, relayInFlight)
	var posters sync.WaitGroup
	for range relayInFlight {
		posters.Add(1)
		go func() {
			defer posters.Done()
			for m := range work {
				if l.post(ctx, m) {
					acks <- m.ID
				}
			}
		}()
	}
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		l.ack(acks)
	}()
	l.read(ctx, work)
	close(work)
	posters.Wait()
	close(acks)
	<-acked
}

// read feeds work with new entries of the group until ctx ends. A failed
// read is reported and tried again after relayBlock.
func (l relayLoop) read(ctx context.Context, work chan<- redis.XMessage) {
	for ctx.Err() == nil {
		streams, err := l.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: l.group, Consumer: "relay",
			Streams: []string{relayStream, ">"}, Count: relayBatch, Block: relayBlock}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			if ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "relay %s: read: %v\n", l.group, err)
				time.Sleep(relayBlock)
			}
			continue
		}
		for _, s := range streams {
			for _, m := range s.Messages {
				select {
				case work <- m:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

// ack XACKs the ids on acks, each call all that have gathered (up to
// relayBatch), until acks is closed. It uses its own context, so that
// acks of deliveries made before a shutdown still land.
func (l relayLoop) ack(acks <-chan string) {
	ids := make([]string, 0, relayBatch)
	for id := range acks {
		ids = append(ids[:0], id)
	gather:
		for len(ids) < relayBatch {
			select {
			case id, ok := <-acks:
				if !ok {
					break gather
				}
				ids = append(ids, id)
			default:
				break gather
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := l.rdb.XAck(ctx, relayStream, l.group, ids...).Err(); err != nil {
			fmt.Fprintf(os.Stderr, "relay %s: ack: %v\n", l.group, err)
		}
		cancel()
	}
}

// post sends one entry's body with a Standard Webhooks signature, the
// entry's id as webhook-id, and says whether it was answered 2xx.
func (l relayLoop) post(ctx context.Context, m redis.XMessage) bool {
	body, _ := m.Values["body"].(string)
	ts := strconv.FormatInt(l.now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.target.URL, strings.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", signStandard(l.target.Key, m.ID, ts, body))
	resp, err := l.client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body) // drained, so the connection is kept alive
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// signStandard is the webhook-signature value for body: "v1," and the
// base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" under key.
func signStandard(key []byte, id, ts, body string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write([]byte(body))
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}
