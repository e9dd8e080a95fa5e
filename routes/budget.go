package routes

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// byteBudget counts what ingest requests hold in memory, all requests
// together, against server.max_pending_bytes: their bodies as the bytes
// arrive, and, while a request is decoded and stored, what is made of its
// body (see processingCost). A request that would pass a bound is refused
// (503) before it takes the memory, never after. Three bounds apply:
//
//   - the whole budget;
//   - a client address's share of it (server.max_pending_bytes_per_client),
//     counting body bytes only, so that one client cannot lock every
//     provider out with uploads it never finishes;
//   - room kept for small requests (smallReserve): a request past
//     smallRequest bytes may not take the last of the budget, so that
//     large uploads, stalled or not, leave the providers' small webhooks
//     their way in.
type byteBudget struct {
	mu      sync.Mutex
	used    int64
	clients map[netip.Addr]int64 // body bytes held per client; no zero entries
	// processing counts the requests that hold their processing cost:
	// each will give budget back once the store answers.
	processing int
	// waiting is the processing cost that whole bodies wait for; new body
	// bytes of large requests leave it free, so that a request that has
	// its body is decoded and stored before more uploads begin.
	waiting int64
	// freed is closed, and replaced, when budget is given back while a
	// request waits.
	freed chan struct{}

	// usedNow mirrors used for the metrics, without the lock.
	usedNow atomic.Int64
	refused atomic.Int64 // requests answered 503 for want of budget, all bounds
	// clientRefused counts the refusals for a client's share.
	clientRefused atomic.Int64
	// slow counts the uploads cut for arriving slower than
	// server.min_upload_rate.
	slow atomic.Int64
}

func newByteBudget() *byteBudget {
	return &byteBudget{clients: map[netip.Addr]int64{}, freed: make(chan struct{})}
}

// Used is how many bytes are held right now.
func (b *byteBudget) Used() int64 { return b.usedNow.Load() }

// Refused is how many requests the budget has turned away.
func (b *byteBudget) Refused() int64 { return b.refused.Load() }

// smallRequest is the most a request may hold and still count as small:
// a provider's single event, with room to spare (IIMMPACT's bodies are
// about 1KB).
const smallRequest = 64 << 10

// budgetLimits are the bounds one request is held to, from the config in
// force when it started.
type budgetLimits struct {
	total     int64 // server.max_pending_bytes
	perClient int64 // server.max_pending_bytes_per_client; 0: none
	// reserve is the end of total that only small requests may take.
	reserve int64
}

// limitsFor returns the bounds of a request whose body may be up to
// maxBody bytes. The reserve is an eighth of the budget, less if that
// would leave a body of maxBody no room.
func limitsFor(srv gateway.ServerConfig, maxBody int64) budgetLimits {
	total := int64(srv.MaxPendingBytes)
	reserve := max(min(total/8, total-maxBody), 0)
	return budgetLimits{total: total, perClient: int64(srv.MaxPendingBytesPerClient), reserve: reserve}
}

// clientOf is the key a remote address's share is counted under: the
// IPv4 address, or the /64 an IPv6 address is in (one host's usual
// allocation, which it can otherwise spread over 2^64 addresses).
func clientOf(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// claim is what one request holds of the budget. It is used by the
// request's goroutine only.
type claim struct {
	b      *byteBudget
	client netip.Addr
	lim    budgetLimits
	held   int64 // all this request holds
	body   int64 // of which counted against its client's share
	// processing: the request holds its processing cost (byteBudget.processing).
	processing bool
}

// takeBody takes n more bytes for body bytes about to be read, within the
// client's share.
func (c *claim) takeBody(n int64) error { return c.take(n, true) }

// takeProcessing takes n more bytes for what the request's decoding and
// storing make of its body. The request has its whole body, and may be
// authentic: only the whole budget (and the small reserve) bound it, not
// its client's share. When the budget cannot take it now but requests in
// processing will give theirs back, it waits for them, up to wait, rather
// than throw away an upload it has in full; new uploads leave the bytes it
// waits for free meanwhile.
//
// A cost the budget could never hold beside the body (a budget the config
// allows as small as max_body) is charged as all the budget left beside
// the body: the request then waits for a quiet budget, where it would be
// refused 503 on every retry of the provider.
func (c *claim) takeProcessing(n int64, wait time.Duration) error {
	if most := max(c.ceiling(n)-c.held, 0); n > most {
		n = most
	}
	b := c.b
	var timer *time.Timer
	registered := false
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.used+n <= c.ceiling(n) {
			c.add(n, false)
			c.processing = true
			b.processing++
			if registered {
				b.waiting -= n
			}
			return nil
		}
		if b.processing == 0 || wait <= 0 {
			break // nothing in processing to give budget back soon
		}
		if !registered {
			registered = true
			b.waiting += n
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		freed := b.freed
		b.mu.Unlock()
		timedOut := false
		select {
		case <-freed:
		case <-timer.C:
			timedOut = true
		}
		b.mu.Lock()
		if timedOut {
			break
		}
	}
	if registered {
		b.waiting -= n
	}
	b.refused.Add(1)
	return fmt.Errorf("%d bytes held in all, %d more over %d: %w", b.used, n, c.ceiling(n), gateway.ErrOverloaded)
}

// ceiling is the most the budget may hold once this request takes n more
// bytes: all of it for a small request, less the reserve for others.
func (c *claim) ceiling(n int64) int64 {
	if c.held+n > smallRequest {
		return c.lim.total - c.lim.reserve
	}
	return c.lim.total
}

func (c *claim) take(n int64, body bool) error {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if body && c.lim.perClient > 0 && b.clients[c.client]+n > c.lim.perClient {
		b.refused.Add(1)
		b.clientRefused.Add(1)
		return fmt.Errorf("%d bytes held, %d more over the client's share (%d): %w",
			b.clients[c.client], n, c.lim.perClient, gateway.ErrOverloaded)
	}
	ceiling := c.ceiling(n)
	if c.held+n > smallRequest {
		// What whole bodies wait for goes to them first.
		ceiling -= b.waiting
	}
	if b.used+n > ceiling {
		b.refused.Add(1)
		return fmt.Errorf("%d bytes held in all, %d more over %d: %w", b.used, n, ceiling, gateway.ErrOverloaded)
	}
	c.add(n, body)
	return nil
}

// add takes n bytes; b.mu is held.
func (c *claim) add(n int64, body bool) {
	b := c.b
	b.used += n
	b.usedNow.Store(b.used)
	c.held += n
	if body && c.lim.perClient > 0 {
		b.clients[c.client] += n
		c.body += n
	}
}

// release gives back everything the request holds. It may be called more
// than once.
func (c *claim) release() {
	if c.held == 0 {
		return
	}
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= c.held
	b.usedNow.Store(b.used)
	if c.processing {
		b.processing--
		c.processing = false
	}
	if b.waiting > 0 {
		close(b.freed)
		b.freed = make(chan struct{})
	}
	if c.body > 0 {
		if left := b.clients[c.client] - c.body; left > 0 {
			b.clients[c.client] = left
		} else {
			delete(b.clients, c.client)
		}
	}
	c.held, c.body = 0, 0
}
