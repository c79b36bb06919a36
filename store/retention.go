package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// SummaryKind is the Kind of the event that replaces the compacted history of an order.
const SummaryKind = "history_compacted"

// compactBatch is how many orders one compaction transaction rewrites.
const compactBatch = 128

// HistorySummary is the Data of a SummaryKind event: what the removed events were, and the
// order's state when they were removed.
type HistorySummary struct {
	// Events is how many events were replaced; FirstAt and LastAt their time span.
	Events  int       `json:"events"`
	FirstAt time.Time `json:"first_at"`
	LastAt  time.Time `json:"last_at"`
	// Kinds counts the removed events by kind.
	Kinds map[string]int `json:"kinds"`
	// Last is the order's last event before compaction (its Data dropped).
	Last Event `json:"last"`
	// Order is the record's outcome when the history was compacted.
	Order struct {
		Carrier        string `json:"carrier,omitempty"`
		Phase          string `json:"phase,omitempty"`
		Number         string `json:"number,omitempty"`
		Reference      string `json:"reference,omitempty"`
		TrackingNumber string `json:"tracking_number,omitempty"`
		LastState      string `json:"last_state,omitempty"`
		Error          string `json:"error,omitempty"`
	} `json:"order"`
	// Retention is the store.history_retention in force, e.g. "2160h0m0s".
	Retention string `json:"retention"`
}

// CompactHistory replaces the history of every finished order whose last event is older than
// the retention (Options.HistoryRetention, measured on the store's clock) by one summary event
// (Kind SummaryKind, Data a HistorySummary) that keeps the last event's Seq and time, so later
// events still number on. An order is finished when its record exists, is not Open and is not
// in the open index: an order with unfinished work (or, in a store migrated from version 1,
// with workflow data), or history without a record, is never compacted. It returns how
// many orders were compacted; with no retention it does nothing. It works in short
// transactions and may run while the store is in use.
func (s *Store) CompactHistory() (int, error) {
	if s.retention <= 0 {
		return 0, nil
	}
	cutoff := s.now().Add(-s.retention)
	total := 0
	var after []byte
	for {
		// Find candidates in a read transaction, then rewrite them in a write transaction
		// that checks every condition again.
		var ids []string
		done := true
		err := s.view(func(tx *bolt.Tx) error {
			events := tx.Bucket([]byte(bucketEvents))
			if events == nil {
				return nil // an older layout: nothing to do
			}
			open := tx.Bucket([]byte(bucketOpen))
			c := tx.Bucket([]byte(bucketOrders)).Cursor()
			k, _ := c.First()
			if after != nil {
				k, _ = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, _ = c.Next()
				}
			}
			for ; k != nil; k, _ = c.Next() {
				if len(ids) == compactBatch {
					done = false
					return nil
				}
				after = append(after[:0], k...)
				// The open index says which orders have unfinished work, without decoding
				// every record; compactOrder reads the record of each candidate.
				if open.Get(k) != nil {
					continue
				}
				if ok, err := s.compactable(events, string(k), cutoff); err != nil {
					return err
				} else if ok {
					ids = append(ids, string(k))
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("store: compact history: %w", err)
		}
		if len(ids) > 0 {
			n := 0
			err := s.update(func(tx *bolt.Tx) error {
				n = 0
				for _, id := range ids {
					ok, err := s.compactOrder(tx, id, cutoff)
					if err != nil {
						return fmt.Errorf("order %q: %w", id, err)
					}
					if ok {
						n++
					}
				}
				return nil
			})
			if err != nil {
				return total, fmt.Errorf("store: compact history: %w", err)
			}
			total += n
		}
		if done {
			return total, nil
		}
	}
}

// compactable reports whether the history of order id may be compacted as far as the events
// tell: it has more than one event, and the last is before cutoff.
func (s *Store) compactable(events *bolt.Bucket, id string, cutoff time.Time) (bool, error) {
	if validOrderID(id) != nil {
		return false, nil
	}
	prefix := historyPrefix(id)
	c := events.Cursor()
	first, _ := c.Seek(prefix)
	if first == nil || !bytes.HasPrefix(first, prefix) {
		return false, nil
	}
	last, err := lastSeq(events, prefix)
	if err != nil {
		return false, err
	}
	lastKey := eventKey(prefix, last)
	if bytes.Equal(first, lastKey) {
		return false, nil // one event: nothing to gain
	}
	e, err := s.codec.decode(lastKey[len(prefix):], events.Get(lastKey))
	if err != nil {
		return false, err
	}
	return e.At.Before(cutoff), nil
}

// compactOrder replaces the order's events by their summary if the order is still
// compactable, in the caller's write transaction.
func (s *Store) compactOrder(tx *bolt.Tx, id string, cutoff time.Time) (bool, error) {
	rec, ok, err := getOrder(tx, s.codec, id)
	if err != nil || !ok || rec.Open || tx.Bucket([]byte(bucketOpen)).Get([]byte(id)) != nil {
		return false, err
	}
	events := tx.Bucket([]byte(bucketEvents))
	if ok, err := s.compactable(events, id, cutoff); err != nil || !ok {
		return false, err
	}
	evs, err := readHistory(tx, s.codec, id)
	if err != nil {
		return false, err
	}
	last := evs[len(evs)-1]
	sum := HistorySummary{Events: len(evs), FirstAt: evs[0].At, LastAt: last.At, Kinds: map[string]int{},
		Last: Event{Seq: last.Seq, At: last.At, Kind: last.Kind, Message: last.Message}, Retention: s.retention.String()}
	for _, e := range evs {
		sum.Kinds[e.Kind]++
	}
	o := &sum.Order
	o.Carrier, o.Phase, o.Number, o.Reference = rec.Carrier, rec.Phase, rec.Number, rec.Reference
	o.TrackingNumber, o.LastState, o.Error = rec.TrackingNumber, rec.LastState, rec.Error
	data, err := json.Marshal(sum)
	if err != nil {
		return false, err
	}
	summary := Event{At: last.At, Kind: SummaryKind, Data: data,
		Message: fmt.Sprintf("История сжата по сроку хранения: %d событий с %s по %s заменены итогом. Последнее: %s",
			len(evs), evs[0].At.Format(time.DateTime), last.At.Format(time.DateTime), last.Message)}
	v, err := s.codec.encode(summary)
	if err != nil {
		return false, err
	}
	prefix := historyPrefix(id)
	for _, e := range evs[:len(evs)-1] {
		if err := events.Delete(eventKey(prefix, e.Seq)); err != nil {
			return false, err
		}
	}
	return true, events.Put(eventKey(prefix, last.Seq), v)
}

// maybeCompactHistory starts CompactHistory in the background when a retention is set and the
// last run started CompactEvery ago or more (on the store's clock). Save calls it.
func (s *Store) maybeCompactHistory(now time.Time) {
	if s.retention <= 0 {
		return
	}
	s.compactMu.Lock()
	if s.closed || s.compacting || (!s.compactLast.IsZero() && now.Sub(s.compactLast) < CompactEvery) {
		s.compactMu.Unlock()
		return
	}
	s.compacting, s.compactLast = true, now
	s.compactWG.Add(1)
	s.compactMu.Unlock()
	go func() {
		defer s.compactWG.Done()
		n, err := s.CompactHistory()
		s.compactMu.Lock()
		s.compacting = false
		s.compactMu.Unlock()
		if err != nil {
			s.log.Error("compacting old history failed", zap.Error(err))
			return
		}
		if n > 0 {
			s.log.Info("old history compacted", zap.Int("orders", n), zap.Duration("retention", s.retention))
		}
	}()
}
