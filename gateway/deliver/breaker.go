package deliver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/hookgate/hookgate/gateway"
)

// breaker is gobreaker's two-step form: Allow before the request, done
// with its verdict after, which fits a request whose outcome is classified
// rather than returned as a Go error. It also remembers when it last
// opened, which gobreaker keeps to itself, so that the admin API can say
// when the open breaker lets its probe through.
type breaker struct {
	*gobreaker.TwoStepCircuitBreaker[struct{}]
	cooldown time.Duration
	// openedAt is the last transition to open, by Options.Now; nil
	// before the first.
	openedAt atomic.Pointer[time.Time]
	// ops is told of each transition (Options.Ops); set before the
	// breaker is first used.
	ops gateway.OpRaiser
}

// Verdicts reported to the breaker. Only retryable failures count against
// a subscriber: a permanent 4xx shows it is up and answering.
var (
	errFailed  = errors.New("retryable failure")
	errAborted = errors.New("aborted by shutdown") // neither success nor failure
)

func newBreaker(name string, bc gateway.BreakerConfig, now func() time.Time, log *slog.Logger) *breaker {
	trip := uint32(max(bc.ConsecutiveFailures, 1))
	b := &breaker{cooldown: max(bc.Cooldown, time.Millisecond)}
	b.TwoStepCircuitBreaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1, // half-open: one probe decides
		Timeout:     b.cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= trip },
		IsExcluded:  func(err error) bool { return errors.Is(err, errAborted) },
		// Called under the breaker's own lock: it must not call the
		// breaker.
		OnStateChange: func(name string, from, to gobreaker.State) {
			level := slog.LevelInfo
			if to == gobreaker.StateOpen {
				level = slog.LevelWarn
				at := now()
				b.openedAt.Store(&at)
			}
			log.Log(context.Background(), level, "breaker "+to.String(), "subscriber", name, "from", from.String())
			raiseBreaker(b.ops, name, to, now())
		},
	})
	return b
}

// nextProbe returns, while the breaker is open, when it goes half-open
// and lets one probe through: its cooldown after it opened. ok is false
// when it is not open.
func (b *breaker) nextProbe() (at time.Time, ok bool) {
	if b.State() != gobreaker.StateOpen {
		return time.Time{}, false
	}
	return b.probeAt()
}

// probeAt is the last opening plus the cooldown, whatever the state now;
// ok is false before the breaker first opened.
func (b *breaker) probeAt() (time.Time, bool) {
	at := b.openedAt.Load()
	if at == nil {
		return time.Time{}, false
	}
	return at.Add(b.cooldown), true
}

// verdict is what the breaker is told about an attempt of the given class.
func verdict(c Class) error {
	if c == Retry {
		return errFailed
	}
	return nil
}

// subState is everything a dispatcher uses for one claim, swapped as a
// whole by Update so that a request never mixes old and new settings.
type subState struct {
	cfg     *gateway.SubscriberConfig
	client  *http.Client
	own     *http.Transport // nil when Options.Transport is shared
	breaker *breaker
	secrets [][]byte // redacted from response excerpts (redactedSecrets)
	// transform makes the body of each attempt (SubscriberConfig's
	// CompiledTransform); nil: the stored envelope is sent as it is.
	// uncompiled: the config has a transform that validation did not
	// compile, which every attempt fails rather than send the data
	// untransformed.
	transform  gateway.Transform
	uncompiled bool
	// dest is a queue subscriber's destination (kind other than http);
	// nil for http.
	dest   *destRef
	tokens *tokenSource // auth.oauth2; nil: none
}

// excerptSecrets is what a failed attempt's response excerpt redacts.
func (s *subState) excerptSecrets() [][]byte {
	if s.tokens == nil {
		return s.secrets
	}
	return s.tokens.secrets(s.secrets)
}

func (s *subState) closeIdle() {
	if s.own != nil {
		s.own.CloseIdleConnections()
	}
	if s.tokens != nil {
		s.tokens.closeIdle()
	}
}

func newSubState(name string, cfg *gateway.SubscriberConfig, prev *subState, o *Options, log *slog.Logger) *subState {
	s := &subState{cfg: cfg, secrets: redactedSecrets(cfg), transform: cfg.CompiledTransform,
		uncompiled: cfg.CompiledTransform == nil && !gateway.BlankFilter(cfg.Transform)}
	if prev != nil && prev.cfg.URL == cfg.URL && prev.cfg.Breaker == cfg.Breaker && sameTarget(prev.cfg, cfg) {
		s.breaker = prev.breaker
	} else {
		s.breaker = newBreaker(name, cfg.Breaker, o.Now, log)
		s.breaker.ops = o.Ops
	}
	if cfg.Auth.OAuth2 != nil {
		if prev != nil && prev.tokens != nil && prev.cfg.Auth.OAuth2.Equal(cfg.Auth.OAuth2) {
			s.tokens = prev.tokens
		} else {
			s.tokens = newTokenSource(cfg.Auth.OAuth2, o.Transport)
		}
	}
	if cfg.IsQueue() {
		if prev != nil && prev.dest != nil && sameDestination(prev.cfg, cfg) {
			s.dest = prev.dest
		} else {
			s.dest = openDestination(cfg)
		}
	}
	if prev != nil && prev.cfg.MaxInFlight == cfg.MaxInFlight && prev.cfg.TLS == cfg.TLS && prev.tokens == s.tokens {
		s.client, s.own = prev.client, prev.own
		return s
	}
	rt := o.Transport
	if rt == nil || cfg.TLS.Set() {
		// A tls block is the subscriber's own: it never shares a
		// transport, Options.Transport included.
		s.own = newTransport(cfg.MaxInFlight)
		if cfg.TLS.Set() {
			s.own.TLSClientConfig = newClientTLS(name, cfg.TLS, log).config()
		}
		rt = s.own
	}
	if s.tokens != nil {
		rt = &authTransport{base: rt, tokens: s.tokens}
	}
	s.client = &http.Client{
		Transport: rt,
		// Redirects are never followed (SPEC 5): a 3xx is recorded and
		// retried, so a misconfigured URL shows up instead of being
		// silently chased.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s
}

// newTransport keeps enough idle connections for the subscriber's
// concurrency, so steady traffic reuses connections instead of dialing.
func newTransport(maxInFlight int) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          max(maxInFlight, 2) * 2,
		MaxIdleConnsPerHost:   max(maxInFlight, 2),
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
