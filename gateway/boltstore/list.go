package boltstore

import (
	"context"
	"encoding/base64"

	bolt "go.etcd.io/bbolt"

	"github.com/hookgate/hookgate/gateway"
)

// List walks one listing index backwards from the cursor, newest first.
// The index is the narrowest the filter allows: subscriber+status,
// status, subscriber, source, type, or all events; source and type, when
// the index does not cover them, are checked on the event record. The
// cursor is the last returned entry's index key, so a page stays right
// when entries before it come and go.
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
	err := s.view(ctx, "list", func(t *txn) error {
		idx, checkSource, checkType := t.listIndex(f)
		if idx == nil {
			return nil
		}
		c := idx.Cursor()
		var k []byte
		if after == nil {
			k, _ = c.Last()
		} else if k, _ = c.Seek(after); k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil; k, _ = c.Prev() {
			_, id := splitTimeKey(k)
			ev, ok, err := t.getEvent(id, false)
			if err != nil {
				return err
			}
			if !ok || (checkSource && ev.Source != f.Source) || (checkType && ev.Type != f.Type) {
				continue
			}
			if len(page.Events) == limit {
				// One more match exists: the page is full and not the last.
				last := page.Events[limit-1]
				page.NextCursor = base64.RawURLEncoding.EncodeToString(timeKey(last.ReceivedAt, last.ID))
				return nil
			}
			sum := gateway.EventSummary{ID: id, Source: ev.Source, Type: ev.Type, Subject: ev.Subject,
				ReceivedAt: ev.ReceivedAt}
			_, recs, err := t.eventDeliveries(eventKey(ev.ReceivedAt, id))
			if err != nil {
				return err
			}
			sts := make([]gateway.DeliveryStatus, len(recs))
			for i := range recs {
				sts[i] = recs[i].Status
			}
			sum.Status = gateway.EventStatus(sts)
			page.Events = append(page.Events, sum)
		}
		return nil
	})
	return page, err
}

// listIndex picks the index for f, or nil when nothing can match, and says
// which of source and type must still be checked per event.
func (t *txn) listIndex(f gateway.EventFilter) (idx *bolt.Bucket, checkSource, checkType bool) {
	checkSource, checkType = f.Source != "", f.Type != ""
	switch {
	case f.Status == gateway.StatusUnrouted && f.Subscriber != "":
		return nil, false, false // an unrouted event has no delivery to anyone
	case f.Status != "" && f.Subscriber != "":
		return t.listSS.Bucket(subStatusName(f.Subscriber, string(f.Status))), checkSource, checkType
	case f.Status != "":
		return t.listSt.Bucket([]byte(f.Status)), checkSource, checkType
	case f.Subscriber != "":
		return t.listSub.Bucket([]byte(f.Subscriber)), checkSource, checkType
	case f.Source != "":
		return t.listSrc.Bucket([]byte(f.Source)), false, checkType
	case f.Type != "":
		return t.listType.Bucket([]byte(f.Type)), false, false
	}
	return t.listAll, false, false
}
