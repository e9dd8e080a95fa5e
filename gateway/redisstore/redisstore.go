// Package redisstore is the Redis backend of gateway.Store, for one gateway
// or many sharing one Redis. It is the only importer of go-redis.
//
// Every key lives under the hash tag "{prefix}" so that the multi-key Lua
// scripts, which make each write atomic, stay valid on Redis Cluster (all
// keys share one slot). The layout, with P = "{prefix}":
//
//	P:e:<id>              hash  the event: body (exact bytes), src type subj
//	                            recv dups, subs (its subscribers), ddl (dedupe
//	                            deadline, ms), pt (the token of the Put call
//	                            that stored it), n:<status> (deliveries per
//	                            status), and its deliveries, d:<sub>:<field>:
//	                            st at cr nx tok code err, rn (the Record call
//	                            that ended the last lease), dr (why it is dead;
//	                            only while dead), hn and h<k> (attempt
//	                            history, "n|at|duration ns|code|error", or
//	                            with a response excerpt "xn|at|duration
//	                            ns|code|len(error)|len(content type)|" and the
//	                            error, content type and body)
//	P:q:<sub>             zset  the queue: due time (ms), lease end while claimed,
//	                            both on Redis's clock (see Times below)
//	P:x:<sub>             zset  dead deliveries by time of death
//	P:s:<sub>             hash  stats: delivered last_ok last_err
//	P:cl:<sub>:<token>    string  the ids a claim leased, for a re-run of it
//	                            (claim.lua); expires with the lease
//	P:paused              set   paused subscribers
//	{prefix}:paused_reason hash subscriber -> why it is paused ("admin",
//	                            "gone"); none: "admin" (older stores)
//	P:i:all               zset  every event by receipt time (ms): List walks
//	                            it, Sweep finds old events in it
//	P:r:sub               set   every subscriber ever given a delivery, for
//	                            Subscribers and Sweep
//	P:schema              string  the key layout, "2" (see schemaVersion)
//	P:sy                  string  "1", written before each WAIT (evalAndWait),
//	                            so that WAIT covers every earlier write
//	P:t:<gen>:<shard>     set   tombstones of events removed at retention
//	                            (store.tombstone_window): 44 bits of each
//	                            id's SHA-1, as integers (an intset, 8 bytes
//	                            each); expires when Put looks no longer
//
// There is no index per source, type, subscriber or status: a stored event
// costs one HSET and one entry in i:all and in each subscriber's queue, and
// a status change the event hash's fields (its n:<status> counts among
// them) and the queue or dead-set entry. List walks i:all newest first and
// tests each event's hash against the filter, a bounded number of entries
// per call.
//
// An event and its deliveries share one hash so that storing one is one
// HSET and an attempt one HMGET and one HSET: Redis's CPU is what bounds
// throughput, and it goes per command. Keys carry no expiry, which would
// cost a command per key written; Sweep (run by every gateway on a timer)
// enforces retention, a bounded batch per script call.
//
// Times are kept to the millisecond (durations to the nanosecond). Leases
// and due times are judged by Redis's clock (TIME, read in the scripts), so
// that gateways whose clocks disagree neither steal each other's leases nor
// hold work back: queue scores are on that clock, while the times shown
// (receipt, created, next attempt) are the callers'. A lease token carries
// its claimer's clock offset, so that the due times Record and Release are
// given (the claimer's clock) are queued on Redis's.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/gateway"
)

func init() { gateway.RegisterStore(gateway.StoreRedis, Open) }

var _ gateway.Store = (*Store)(nil)

// Defaults for a StoreConfig that leaves them zero (config loading normally
// fills them).
const (
	DefaultPrefix       = "hookgate"
	DefaultRetention    = 168 * time.Hour
	DefaultDedupeWindow = 72 * time.Hour
)

// Store is a gateway.Store on Redis. Its methods are safe for concurrent
// use, also by other processes sharing the same Redis and prefix.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	base   string // "{prefix}": the store's own keys (schema, partitions)
	// Partitions (partition.go): wantParts is the configured count (0:
	// the store's, or the default); parts the store's, once layout has
	// read it, and bases[p] the hash tag of partition p, KEYS[1] of every
	// script run in it.
	wantParts int
	parts     atomic.Int32
	layoutMu  sync.Mutex
	bases     []string
	retention time.Duration
	window    time.Duration
	// tombWin is store.tombstone_window (0: no tombstones; common.lua).
	tombWin time.Duration
	// dups holds the duplicates counters that Put counted and has not
	// yet written (put.go).
	dups *gateway.DuplicateTally
	// callerClock judges leases and due times by the times callers pass
	// instead of Redis's TIME: for tests that inject a clock.
	callerClock bool
	// orphans counts queue entries found without their event since open.
	orphans atomic.Int64
	// schemaMarked is set once the store's layout marker is known to be
	// schemaVersion (markSchema).
	schemaMarked atomic.Bool
	// replicaWait bounds Put's wait for a replica's confirmation;
	// replicas is what the store knows of the masters' replicas.
	replicaWait time.Duration
	replicas    replicaSet
	// deliveryMemory is how long claims and records go on waiting for a
	// replica seen before (DefaultDeliveryReplicaMemory); Puts wait for
	// replicaMemory.
	deliveryMemory time.Duration

	// lost holds the token prefixes of claim calls whose reply was lost.
	lost lostClaims
	// inst and calls make Record call ids (callID).
	inst  string
	calls atomic.Int64

	putq    chan *putCall
	recq    chan *recordCall
	stop    chan struct{}
	writers sync.WaitGroup
	closed  sync.Once
}

// Open connects to the Redis named by cfg.Redis.URL (redis://, rediss://,
// unix://; Sentinel and Cluster as newClient describes). It does not wait for Redis to answer: a store that is down at
// start reports ErrUnavailable from its methods (and Ping) until it is up.
func Open(cfg gateway.StoreConfig) (gateway.Store, error) {
	return open(cfg)
}

// OpenCallerClock opens a store that judges leases and due times by the
// times its callers pass rather than by Redis's TIME. It is for tests that
// drive time themselves (a frozen or far-off clock); every process sharing
// such a store must then agree on the time.
func OpenCallerClock(cfg gateway.StoreConfig) (*Store, error) {
	return open(cfg, CallerClock())
}

// OpenWith opens a store with options, for tests and tools; Open is what
// the gateway uses.
func OpenWith(cfg gateway.StoreConfig, opts ...Option) (*Store, error) {
	return open(cfg, opts...)
}

// Option changes a Store before it starts.
type Option func(*Store)

// CallerClock judges leases and due times by the callers' times (see
// OpenCallerClock).
func CallerClock() Option { return func(s *Store) { s.callerClock = true } }

// ReplicaWait sets how long Put waits for a replica to confirm a write
// before it answers ErrUnavailable (DefaultReplicaWait).
func ReplicaWait(d time.Duration) Option { return func(s *Store) { s.replicaWait = d } }

// DeliveryReplicaMemory sets how long claims and records go on waiting
// for a replica no longer connected (DefaultDeliveryReplicaMemory).
func DeliveryReplicaMemory(d time.Duration) Option { return func(s *Store) { s.deliveryMemory = d } }

func open(cfg gateway.StoreConfig, opts ...Option) (*Store, error) {
	if cfg.Redis == nil {
		return nil, errors.New("redis store: no store.redis block")
	}
	rdb, err := newClient(cfg.Redis)
	if err != nil {
		return nil, err
	}
	prefix := cfg.Redis.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if strings.ContainsAny(prefix, "{}") {
		rdb.Close()
		return nil, fmt.Errorf("store.redis.prefix %q: must not contain { or }", prefix)
	}
	s := &Store{
		rdb:            rdb,
		prefix:         prefix,
		base:           "{" + prefix + "}",
		wantParts:      cfg.Redis.Partitions,
		retention:      orDefault(cfg.Retention, DefaultRetention),
		window:         orDefault(cfg.DedupeWindow, DefaultDedupeWindow),
		tombWin:        max(cfg.TombstoneWindow, 0),
		replicaWait:    DefaultReplicaWait,
		deliveryMemory: DefaultDeliveryReplicaMemory,
		inst:           newToken()[:12] + ".",
		replicas:       replicaSet{want: cfg.Redis.MinReplicas},
		putq:           make(chan *putCall),
		recq:           make(chan *recordCall),
		stop:           make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.dups = gateway.NewDuplicateTally(dupDelay, maxDupIDs, s.writeDuplicates)
	for range putWriters {
		s.writers.Add(1)
		go s.writeLoop()
	}
	for range recordWriters {
		s.writers.Add(1)
		go s.recordLoop()
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Ping reports whether Redis answers and the store's partition count is
// the configured one.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return s.unavailable("ping", err)
	}
	return s.layout(ctx)
}

// Close stops the Put and Record writers, after they answered every call
// they took, and closes the connections.
func (s *Store) Close() error {
	var err error
	s.closed.Do(func() {
		close(s.stop)
		s.writers.Wait()
		_ = s.dups.Close() // best effort: the counters are for operators
		err = s.rdb.Close()
	})
	return err
}

// SetPaused holds or releases the subscriber's deliveries for every
// process. Each partition has its own paused set, read by its claim
// script; SetPaused returns once every partition's is written, so the
// pause is exact (SPEC 5). The reason is kept beside them, in one hash
// for the store (paused_reason), written in the same pipeline. On error
// some partitions may hold the new value: the caller repeats.
func (s *Store) SetPaused(ctx context.Context, subscriber string, reason gateway.PauseReason) error {
	if err := s.layout(ctx); err != nil {
		return err
	}
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		if reason != gateway.PauseNone {
			pipe.HSet(ctx, s.key("paused_reason"), subscriber, string(reason))
		}
		for p := range s.nparts() {
			if reason != gateway.PauseNone {
				pipe.SAdd(ctx, s.pkey(p, "paused"), subscriber)
			} else {
				pipe.SRem(ctx, s.pkey(p, "paused"), subscriber)
			}
		}
		if reason == gateway.PauseNone {
			pipe.HDel(ctx, s.key("paused_reason"), subscriber)
		}
		return nil
	})
	if err != nil {
		return s.unavailable("pause "+subscriber, err)
	}
	return nil
}

// Paused tells why the subscriber's deliveries are held, PauseNone if
// they are not: held in any partition, so that a pause cut short by an
// error still shows. A pause without a reason (written before reasons
// were) reads as PauseAdmin.
func (s *Store) Paused(ctx context.Context, subscriber string) (gateway.PauseReason, error) {
	if err := s.layout(ctx); err != nil {
		return gateway.PauseNone, err
	}
	cmds := make([]*redis.BoolCmd, s.nparts())
	var why *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for p := range cmds {
			cmds[p] = pipe.SIsMember(ctx, s.pkey(p, "paused"), subscriber)
		}
		why = pipe.HGet(ctx, s.key("paused_reason"), subscriber)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return gateway.PauseNone, s.unavailable("paused "+subscriber, err)
	}
	for _, c := range cmds {
		if c.Val() {
			if r := gateway.PauseReason(why.Val()); r != gateway.PauseNone {
				return r, nil
			}
			return gateway.PauseAdmin, nil
		}
	}
	return gateway.PauseNone, nil
}

// clock is the scripts' clock mode argument: 's' judges leases and due
// times by Redis's TIME, 'c' by the times callers pass.
func (s *Store) clock() string {
	if s.callerClock {
		return "c"
	}
	return "s"
}

// key joins parts under the store's hash tag.
func (s *Store) key(parts ...string) string {
	return s.base + ":" + strings.Join(parts, ":")
}

// unavailable is wrapUnavailable, and on a Redis Cluster it has the
// client learn the cluster's slot map afresh when err says a node is gone
// or no longer serves (a failover, a demotion, a slot moved): every path
// (claims, records, pause flags, admin reads) then finds the new master
// within moments, where the client's own reload could leave them dialing
// the dead one for a minute. Reloads are coalesced by the client.
func (s *Store) unavailable(op string, err error) error {
	if c, ok := s.rdb.(*redis.ClusterClient); ok && nodeFault(err) {
		c.ReloadState(context.Background())
	}
	return wrapUnavailable(op, err)
}

// nodeFault reports whether err is a lost or refused connection, a
// timeout, or a reply of a server that cannot serve (transientReply): not
// a bug's error reply, a caller's context ending, nor the store's own
// verdicts (no replica confirmed, replicas unknown, a recovered panic).
func nodeFault(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, errNoReplica) || errors.Is(err, errReplicasUnknown) || errors.Is(err, gateway.ErrPanicked) {
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		return transientReply(rerr.Error())
	}
	return true
}

// wrapUnavailable wraps a Redis error so that callers see ErrUnavailable (the
// HTTP layer answers 503) and still the cause. Server replies that signal
// a server unable to serve (loading, read-only replica, cluster down, out
// of memory) count as unavailable too; other error replies are bugs.
func wrapUnavailable(op string, err error) error {
	var rerr redis.Error
	if errors.As(err, &rerr) && !transientReply(rerr.Error()) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, gateway.ErrUnavailable, err)
}

func transientReply(msg string) bool {
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "OOM", "NOREPLICAS", "MISCONF", "MOVED", "ASK"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// newToken returns a fresh random lease token prefix.
func newToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ms is t as Unix milliseconds, the unit of every stored time and score.
func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
