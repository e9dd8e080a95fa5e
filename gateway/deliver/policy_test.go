package deliver

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hookgate/hookgate/gateway"
)

func TestDefaultClassify(t *testing.T) {
	connErr := errors.New("dial tcp: connection refused")
	tests := []struct {
		status int
		err    error
		want   Class
	}{
		{200, nil, Delivered},
		{201, nil, Delivered},
		{204, nil, Delivered},
		{299, nil, Delivered},
		{0, connErr, Retry},
		{0, nil, Retry},
		{301, nil, Retry},
		{302, nil, Retry},
		{307, nil, Retry},
		{408, nil, Retry},
		{429, nil, Retry},
		{500, nil, Retry},
		{502, nil, Retry},
		{503, nil, Retry},
		{504, nil, Retry},
		{400, nil, Permanent},
		{401, nil, Permanent},
		{403, nil, Permanent},
		{404, nil, Permanent},
		{409, nil, Permanent},
		{410, nil, Gone},
		{413, nil, Permanent},
		{422, nil, Permanent},
		{200, connErr, Retry}, // body read failed after headers: not proof of delivery
	}
	for _, tt := range tests {
		if got := DefaultClassify(tt.status, tt.err); got != tt.want {
			t.Errorf("DefaultClassify(%d, %v) = %v, want %v", tt.status, tt.err, got, tt.want)
		}
	}
}

func TestDefaultBackoff(t *testing.T) {
	rc := gateway.RetryConfig{InitialBackoff: 2 * time.Second, MaxBackoff: 10 * time.Minute}
	tests := []struct {
		name   string
		failed int
		rnd    float64
		want   time.Duration
	}{
		{"first, no jitter taken off", 1, 1, 2 * time.Second},
		{"first, most jitter", 1, 0, time.Second},
		{"first, half", 1, 0.5, 1500 * time.Millisecond},
		{"second doubles", 2, 1, 4 * time.Second},
		{"third", 3, 1, 8 * time.Second},
		{"ninth reaches the cap", 9, 1, 8*time.Minute + 32*time.Second},
		{"tenth capped", 10, 1, 10 * time.Minute},
		{"capped with jitter", 10, 0, 5 * time.Minute},
		{"huge attempt count stays capped", 500, 1, 10 * time.Minute},
		{"zero treated as first", 0, 1, 2 * time.Second},
		{"rnd above 1 clamped", 1, 7, 2 * time.Second},
	}
	for _, tt := range tests {
		if got := DefaultBackoff(rc, tt.failed, tt.rnd); got != tt.want {
			t.Errorf("%s: DefaultBackoff(%d, %v) = %v, want %v", tt.name, tt.failed, tt.rnd, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"0", 0, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-3", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestDecide(t *testing.T) {
	rc := gateway.RetryConfig{MaxAttempts: 5, InitialBackoff: time.Second, MaxBackoff: time.Minute, MaxAge: time.Hour}
	now := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	fresh := gateway.Claim{Attempts: 0, CreatedAt: now.Add(-time.Minute)}
	retry := func(code int) Result { return Result{Class: Retry, StatusCode: code} }
	tests := []struct {
		name       string
		claim      gateway.Claim
		res        Result
		wantSt     gateway.DeliveryStatus
		wantReason gateway.DeadReason
		wantNext   time.Time
	}{
		{"2xx delivered", fresh, Result{Class: Delivered, StatusCode: 200}, gateway.StatusDelivered, "", time.Time{}},
		{"2xx delivered on the last attempt", gateway.Claim{Attempts: 4, CreatedAt: now.Add(-2 * time.Hour)}, Result{Class: Delivered, StatusCode: 200}, gateway.StatusDelivered, "", time.Time{}},
		{"4xx dead at once", fresh, Result{Class: Permanent, StatusCode: 400}, gateway.StatusDead, gateway.DeadPermanent, time.Time{}},
		{"4xx on the last attempt is still permanent", gateway.Claim{Attempts: 4, CreatedAt: now.Add(-2 * time.Hour)}, Result{Class: Permanent, StatusCode: 401}, gateway.StatusDead, gateway.DeadPermanent, time.Time{}},
		{"410 dead at once", fresh, Result{Class: Gone, StatusCode: 410}, gateway.StatusDead, gateway.DeadGone, time.Time{}},
		{"a failed transform is dead at once", fresh, Result{Class: Transform}, gateway.StatusDead, gateway.DeadTransform, time.Time{}},
		{"410 past max age is still gone", gateway.Claim{Attempts: 4, CreatedAt: now.Add(-2 * time.Hour)}, Result{Class: Gone, StatusCode: 410}, gateway.StatusDead, gateway.DeadGone, time.Time{}},
		{"first failure backs off", fresh, retry(503), gateway.StatusRetrying, "", now.Add(time.Second)},
		{"third failure", gateway.Claim{Attempts: 2, CreatedAt: fresh.CreatedAt}, retry(500), gateway.StatusRetrying, "", now.Add(4 * time.Second)},
		{"max attempts reached", gateway.Claim{Attempts: 4, CreatedAt: fresh.CreatedAt}, retry(500), gateway.StatusDead, gateway.DeadAttempts, time.Time{}},
		{"max attempts and max age both: attempts", gateway.Claim{Attempts: 4, CreatedAt: now.Add(-2 * time.Hour)}, retry(500), gateway.StatusDead, gateway.DeadAttempts, time.Time{}},
		{"max age passed", gateway.Claim{Attempts: 1, CreatedAt: now.Add(-time.Hour)}, retry(0), gateway.StatusDead, gateway.DeadMaxAge, time.Time{}},
		{"just under max age", gateway.Claim{Attempts: 1, CreatedAt: now.Add(-time.Hour + time.Second)}, retry(0), gateway.StatusRetrying, "", now.Add(2 * time.Second)},
		{"Retry-After on 429", fresh, Result{Class: Retry, StatusCode: 429, RetryAfter: 30 * time.Second, HasRetryAfter: true}, gateway.StatusRetrying, "", now.Add(30 * time.Second)},
		{"Retry-After on 503", fresh, Result{Class: Retry, StatusCode: 503, RetryAfter: 7 * time.Second, HasRetryAfter: true}, gateway.StatusRetrying, "", now.Add(7 * time.Second)},
		{"Retry-After zero floored at initial_backoff", fresh, Result{Class: Retry, StatusCode: 429, RetryAfter: 0, HasRetryAfter: true}, gateway.StatusRetrying, "", now.Add(time.Second)},
		{"Retry-After capped", fresh, Result{Class: Retry, StatusCode: 429, RetryAfter: time.Hour, HasRetryAfter: true}, gateway.StatusRetrying, "", now.Add(time.Minute)},
		{"Retry-After ignored on 500", fresh, Result{Class: Retry, StatusCode: 500, RetryAfter: 30 * time.Second, HasRetryAfter: true}, gateway.StatusRetrying, "", now.Add(time.Second)},
	}
	for _, tt := range tests {
		o := Decide(rc, DefaultBackoff, tt.claim, tt.res, now, 1)
		if o.Status != tt.wantSt || o.DeadReason != tt.wantReason || !o.NextAttemptAt.Equal(tt.wantNext) {
			t.Errorf("%s: Decide = %s %q, %v; want %s %q, %v", tt.name, o.Status, o.DeadReason, o.NextAttemptAt, tt.wantSt, tt.wantReason, tt.wantNext)
		}
		if err := gateway.CheckOutcome(o); err != nil {
			t.Errorf("%s: a store would refuse Decide's outcome: %v", tt.name, err)
		}
	}
}
