// Package deliver sends stored events to subscribers: one dispatcher per
// subscriber claims due deliveries from the gateway.Store, signs each
// envelope the Standard Webhooks way, POSTs it, and records the attempt and
// its outcome (delivered, retrying at a backoff, or dead). A queue
// subscriber (a kind other than http) publishes the same signed envelope
// through its gateway.Destination instead of POSTing it (destination.go);
// the kinds live in gateway/deliver/dest/<kind> and register themselves. A circuit breaker
// per subscriber (sony/gobreaker) stops attempts while a subscriber is down,
// so that events wait instead of using up their attempts.
//
// It is the only user of gobreaker in hookgate. Time and randomness are
// injected through Options so that retry and breaker behaviour is testable
// without sleeping.
package deliver
