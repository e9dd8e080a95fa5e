package deliver

import (
	"errors"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

// errUncompiled fails every attempt of a subscriber whose transform the
// config validation did not compile (a SubscriberConfig built in code):
// sending its data untransformed would hand the subscriber what it was
// never meant to see.
var errUncompiled = errors.New("not compiled (the config was not validated)")

// body returns what an attempt at c sends: the stored envelope as it is
// when the subscriber has no transform, at no cost; else the envelope
// with its data replaced by the transform's value, evaluated now with the
// subscriber's current config (a reload that fixes a transform applies
// to the next attempt, and to a redelivery). An error is the transform's:
// the caller records it and sends nothing.
func (s *subState) body(c gateway.Claim) ([]byte, error) {
	switch {
	case s.transform != nil:
		return gateway.TransformEnvelope(s.transform, c.Body)
	case s.uncompiled:
		return nil, errUncompiled
	}
	return c.Body, nil
}

// transformFailure is the attempt recorded for a transform that failed at
// at: no request, no status code, the reason as its error, bounded as
// every reason is ("transform: no such key: price").
func transformFailure(at time.Time, err error) gateway.Attempt {
	return gateway.Attempt{At: at, Error: clip("transform: " + err.Error())}
}
