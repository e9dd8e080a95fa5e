package gateway

import (
	"context"
	"fmt"
	"time"
)

// ownResult is what ingestOwn did with one event.
type ownResult struct {
	routed int  // subscribers it was stored for; 0: none takes it, not stored
	dup    bool // an event of this id was already stored
}

// ingestOwn stores the gateway's own events (OpEmitter) in one Put,
// each routed like an upstream event of source OpSource (Config.Routes,
// which only subscribers naming it in their sources match) and filtered.
// An event no subscriber takes is not stored. The subscribers that got a
// new delivery are notified.
func (in *Ingester) ingestOwn(ctx context.Context, envs []Envelope, bodies [][]byte, at time.Time) ([]ownResult, error) {
	snap := in.snap.Load()
	out := make([]ownResult, len(envs))
	events := make([]NewEvent, 0, len(envs))
	index := make([]int, 0, len(envs)) // events[k] is envs[index[k]]
	for i, env := range envs {
		subs := snap.cfg.Routes(OpSource, env.Type)
		if snap.filters != nil && len(subs) > 0 {
			subs = in.filter(snap, subs, env)
		}
		if len(subs) == 0 {
			continue
		}
		out[i].routed = len(subs)
		events = append(events, NewEvent{Envelope: env, Body: bodies[i], ReceivedAt: at, Subscribers: subs, Ordered: snap.ordered})
		index = append(index, i)
	}
	if len(events) == 0 {
		return out, nil
	}
	results, err := in.store.Put(ctx, events)
	if err == nil && len(results) != len(events) {
		err = fmt.Errorf("store returned %d results for %d events", len(results), len(events))
	}
	if err != nil {
		return nil, err
	}
	var woken []string
	for k, r := range results {
		if r.Duplicate {
			out[index[k]].dup = true
			continue
		}
		for _, s := range events[k].Subscribers {
			if !contains(woken, s) {
				woken = append(woken, s)
			}
		}
	}
	for _, s := range woken {
		in.notify(s)
	}
	return out, nil
}
