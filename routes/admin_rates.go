package routes

import (
	"github.com/gofiber/fiber/v2"

	"github.com/hookgate/hookgate/gateway/deliver"
)

// ratesView is GET /admin/api/rates: per subscriber, this process's
// attempts over the last 30 minutes in buckets of BucketSeconds, oldest
// first, the last being the bucket now running. Failed counts attempts
// that led to retrying or dead. Other gateways sharing the store keep
// their own, and the counts start afresh when the process does: for the
// dashboard's charts, not for accounting (that is /metrics). A subscriber
// removed from the config stays listed while its window holds an attempt.
type ratesView struct {
	BucketSeconds int                 `json:"bucket_seconds"`
	Subscribers   map[string]rateView `json:"subscribers"`
}

type rateView struct {
	Delivered []int64 `json:"delivered"`
	Failed    []int64 `json:"failed"`
}

func (a *admin) rates(c *fiber.Ctx) error {
	rates := a.Engine.Rates()
	v := ratesView{
		BucketSeconds: int(deliver.RateBucket.Seconds()),
		Subscribers:   make(map[string]rateView, len(rates)),
	}
	for name, r := range rates {
		v.Subscribers[name] = rateView{Delivered: r.Delivered, Failed: r.Failed}
	}
	return c.JSON(v)
}
