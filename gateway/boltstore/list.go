package boltstore

import (
	"bytes"
	"context"
	"encoding/base64"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// listScan bounds the index entries one List call examines: a page costs
// at most this many entry reads whatever the filter, and the same at any
// cursor depth (a cursor is a seek, not a skip). It is well above
// MaxLimit, so that a page the index answers alone is never cut short.
const listScan = 4 * MaxLimit

// List walks one listing index backwards from the cursor, newest first.
// The index is the narrowest the filter allows: subscriber+status,
// status, subscriber, source, type, or all events; source, type and
// status, when the index does not cover them, are checked on the event
// record and its deliveries (listIndex). The
// cursor is an index key: the last one examined, so that the next call
// goes on below it. That is the last entry returned when the page filled
// up, or the last one passed over when listScan ran out first, in which
// case the page is short (even empty) and the cursor says where to go on.
// A page stays right when entries before the cursor come and go.
//
// With f.Match, the events that pass the other filters are copied out
// (their bodies up to gateway.ListMatchBytes) and judged after the read
// transaction ends (listMatch), so that a search never holds a writer's
// remap behind an expression.
func (s *Store) List(ctx context.Context, f gateway.EventFilter) (gateway.EventPage, error) {
	page := gateway.EventPage{Events: []gateway.EventSummary{}}
	limit := capLimit(f.Limit)
	var after []byte
	if f.Cursor != "" {
		var err error
		if after, err = base64.RawURLEncoding.DecodeString(f.Cursor); err != nil || len(after) < 8 {
			return page, wrap("list", badInput("bad cursor %q", f.Cursor))
		}
	}
	var cands []listCand
	var stop []byte // with Match: where the scan stopped short; nil at the index's end
	var oldest []byte
	err := s.view(ctx, "list", func(t *txn) error {
		idx, checkSource, checkType, checkStatus := t.listIndex(f)
		if idx == nil {
			return nil
		}
		c := idx.Cursor()
		// seen: the last entry examined; last: the last put on the page.
		// Both point into the read transaction's pages, valid until it ends.
		var k, seen, last []byte
		if after == nil {
			k, _ = c.Last()
		} else if k, _ = c.Seek(after); k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		defer func() { oldest = bytes.Clone(seen) }()
		size := 0
		for ; k != nil; k, _ = c.Prev() {
			if page.Scanned == listScan || (f.Match != nil && size >= gateway.ListMatchBytes) {
				if f.Match != nil {
					stop = bytes.Clone(seen)
				} else {
					page.NextCursor = listCursor(seen)
				}
				return nil
			}
			page.Scanned, seen = page.Scanned+1, k
			_, id := splitTimeKey(k)
			ev, ok, err := t.getEvent(id, f.Match != nil)
			if err != nil {
				return err
			}
			if !ok || (checkSource && ev.Source != f.Source) || (checkType && ev.Type != f.Type) ||
				(f.Subject != "" && ev.Subject != f.Subject) {
				continue
			}
			subs, recs, err := t.eventDeliveries(eventKey(ev.ReceivedAt, id))
			if err != nil {
				return err
			}
			if checkStatus && !hasStatus(subs, recs, f.Subscriber, f.Status) {
				continue
			}
			if f.Match == nil && len(page.Events) == limit {
				// One more match exists: the page is full and not the last.
				page.NextCursor = listCursor(last)
				seen = last
				return nil
			}
			sum := gateway.EventSummary{ID: id, Source: ev.Source, Type: ev.Type, Subject: ev.Subject,
				ReceivedAt: ev.ReceivedAt}
			sts := make([]gateway.DeliveryStatus, len(recs))
			sum.Deliveries = make(map[string]gateway.DeliveryStatus, len(recs))
			for i := range recs {
				sts[i] = recs[i].Status
				sum.Deliveries[subs[i]] = recs[i].Status
			}
			sum.Status = gateway.EventStatus(sts)
			if f.Match != nil {
				cands = append(cands, listCand{key: bytes.Clone(k), sum: sum, body: bytes.Clone(ev.Body)})
				size += len(ev.Body)
				continue
			}
			page.Events = append(page.Events, sum)
			last = k
		}
		return nil
	})
	if err != nil {
		return page, err
	}
	if f.Match != nil {
		return listMatch(page, cands, stop, oldest, limit, f.Match), nil
	}
	if oldest != nil {
		at, _ := splitTimeKey(oldest)
		page.SearchedUntil = &at
	}
	return page, nil
}

// listCand is an event that passed the index's filters, waiting for
// EventFilter.Match.
type listCand struct {
	key  []byte // its index key
	sum  gateway.EventSummary
	body []byte
}

// listMatch judges the candidates newest first and makes the page: full
// once limit of them match and one more does (its cursor the last one
// on the page), else short with the scan's stop as its cursor (nil: the
// index ended, and oldest is the last entry examined).
func listMatch(page gateway.EventPage, cands []listCand, stop, oldest []byte, limit int, match func([]byte) bool) gateway.EventPage {
	var last []byte
	for _, c := range cands {
		if !match(c.body) {
			continue
		}
		if len(page.Events) == limit {
			stop = last
			break
		}
		page.Events = append(page.Events, c.sum)
		last = c.key
	}
	if stop != nil {
		page.NextCursor = listCursor(stop)
		oldest = stop
	}
	if oldest != nil {
		at, _ := splitTimeKey(oldest)
		page.SearchedUntil = &at
	}
	return page
}

// listCursor is the cursor that goes on below index key k.
func listCursor(k []byte) string { return base64.RawURLEncoding.EncodeToString(k) }

// listIndex picks the index for f, or nil when nothing can match, and says
// which of source, type and status must still be checked per event. A
// status without listing indexes (listedStatuses: pending, delivered) is
// checked on the event's deliveries along the subscriber's, source's,
// type's or all events' index; those statuses are dense there (most events
// are delivered, and pending ones are the newest), so the scan budget
// seldom runs out before a page fills.
func (t *txn) listIndex(f gateway.EventFilter) (idx *bolt.Bucket, checkSource, checkType, checkStatus bool) {
	checkSource, checkType = f.Source != "", f.Type != ""
	switch {
	case f.Status == gateway.StatusUnrouted && f.Subscriber != "":
		return nil, false, false, false // an unrouted event has no delivery to anyone
	case listedStatus(f.Status) && f.Subscriber != "":
		return t.listSS.Bucket(subStatusName(f.Subscriber, string(f.Status))), checkSource, checkType, false
	case listedStatus(f.Status):
		return t.listSt.Bucket([]byte(f.Status)), checkSource, checkType, false
	}
	checkStatus = f.Status != ""
	switch {
	case f.Subscriber != "":
		return t.listSub.Bucket([]byte(f.Subscriber)), checkSource, checkType, checkStatus
	case f.Source != "":
		return t.listSrc.Bucket([]byte(f.Source)), false, checkType, checkStatus
	case f.Type != "":
		return t.listType.Bucket([]byte(f.Type)), false, false, checkStatus
	}
	return t.listAll, false, false, checkStatus
}

// hasStatus reports whether one of an event's deliveries (the one to sub,
// if sub is set) is in status st.
func hasStatus(subs []string, recs []deliveryRec, sub string, st gateway.DeliveryStatus) bool {
	for i := range recs {
		if (sub == "" || subs[i] == sub) && recs[i].Status == st {
			return true
		}
	}
	return false
}
