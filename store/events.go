package store

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The history of every order lives in one flat bucket, events (schema version 3 on):
//
//	key:   order id, 0x00, seq (uint64, big-endian)
//	value: format (1 byte), at (varint Unix seconds, uvarint nanoseconds), body
//	body:  uvarint len(kind), kind, uvarint len(message), message, data (the rest)
//
// Format 0 stores the body as it is; format 1 stores it compressed with DEFLATE and
// eventDict as preset dictionary. The order id cannot contain 0x00, so an order's events are
// exactly the keys starting with id+0x00, in seq order. Seq is in the key, not repeated in
// the value. At is kept in UTC.
//
// Versus a nested bucket per order (versions 1–2), this saves bbolt's per-bucket page (an
// order's history outgrows an inline bucket after a few events and gets a 4 KB page of its
// own), and the compact value saves the repeated JSON names and the time as text.
const (
	eventFormatRaw   = 0
	eventFormatFlate = 1

	// maxEventBody bounds what a damaged compressed value may inflate to.
	maxEventBody = 16 << 20
)

// eventDict is the DEFLATE preset dictionary of format 1: strings that recur in events
// (the workflow's kinds and Russian messages, the JSON of API exchanges). The strings that
// recur most are at the end, where matches cost least. It is part of the file format: NEVER
// change it; a different dictionary needs a new format number.
const eventDict = `заказ в СДЭК под номером  (попытка 1)Статус в МойСклад: «Ошибка оформления доставки»` +
	`Накладная получена: waybill.pdfЗаказ не отправлен:\n• Не указан телефон получателя; повтор через ` +
	`carrier_submitcarrier_acceptedcarrier_registeredcarrier_foundcarrier_not_foundwaybillretrystatusseen` +
	`В МойСклад: статус «Готов к отгрузке», служба доставки «СДЭК»Статус в МойСклад: «Зарегистрирован перевозчиком»` +
	`{"carrier":"cdek","phase":"registered","reference":"","tracking_number":"","number":"","attempt":1}` +
	`{"system":"moysklad","method":"PUT","url":"https://api.moysklad.ru/api/remap/1.2/entity/customerorder/","status":200,"request":"{\"state\":{\"meta\":{\"href\":\"` +
	`moysklad_exchangecarrier_exchange GET https://api.cdek.ru/v2/orders/ → 200` +
	`{"system":"cdek","method":"GET","url":"https://api.cdek.ru/v2/orders/","status":200,"response":"{\"entity\":{\"uuid\":\"","duration_ns":`

// deflater compresses short values with DEFLATE and a fixed preset dictionary. It keeps one
// writer (a new one costs about 1 MB of allocations) and a pool of readers. It is safe for
// concurrent use.
type deflater struct {
	dict    []byte
	mu      sync.Mutex
	w       *flate.Writer
	readers sync.Pool
}

func newDeflater(dict string) *deflater {
	d := &deflater{dict: []byte(dict)}
	d.readers.New = func() any { return flate.NewReaderDict(bytes.NewReader(nil), d.dict) }
	return d
}

// compress returns b compressed, and whether that is shorter than b.
func (d *deflater) compress(b []byte) ([]byte, bool, error) {
	var z bytes.Buffer
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w == nil {
		w, err := flate.NewWriterDict(&z, flate.DefaultCompression, d.dict)
		if err != nil {
			return nil, false, err
		}
		d.w = w
	} else {
		d.w.Reset(&z)
	}
	if _, err := d.w.Write(b); err != nil {
		return nil, false, err
	}
	if err := d.w.Close(); err != nil {
		return nil, false, err
	}
	return z.Bytes(), z.Len() < len(b), nil
}

// inflate decompresses z (at most maxEventBody bytes); a damaged z gives an error.
func (d *deflater) inflate(z []byte) ([]byte, error) {
	r := d.readers.Get().(io.ReadCloser)
	defer d.readers.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(z), d.dict); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r, maxEventBody))
	if err != nil {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	if len(b) == maxEventBody {
		return nil, errors.New("inflate: value too large")
	}
	return b, nil
}

// eventCodec encodes and decodes event and order record values. It is safe for concurrent use.
type eventCodec struct {
	events  *deflater
	records *deflater
}

func newEventCodec() *eventCodec {
	return &eventCodec{events: newDeflater(eventDict), records: newDeflater(recordDict)}
}

// historyPrefix is the start of every key of the order's events.
func historyPrefix(orderID string) []byte {
	return append([]byte(orderID), 0)
}

func eventKey(prefix []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), seq)
}

// validOrderID reports whether id can key the flat history.
func validOrderID(id string) error {
	if id == "" {
		return errors.New("empty order id")
	}
	if strings.IndexByte(id, 0) >= 0 {
		return fmt.Errorf("order id %q contains a NUL byte", id)
	}
	return nil
}

// encode encodes e (without its Seq, which is in the key).
func (c *eventCodec) encode(e Event) ([]byte, error) {
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(e.Kind)))
	body = append(body, e.Kind...)
	body = binary.AppendUvarint(body, uint64(len(e.Message)))
	body = append(body, e.Message...)
	if len(e.Data) > 0 {
		if !json.Valid(e.Data) {
			return nil, errors.New("data is not valid JSON")
		}
		body = append(body, e.Data...)
	}
	at := e.At.UTC()
	head := []byte{eventFormatRaw}
	head = binary.AppendVarint(head, at.Unix())
	head = binary.AppendUvarint(head, uint64(at.Nanosecond()))

	z, shorter, err := c.events.compress(body)
	if err != nil {
		return nil, err
	}
	if shorter {
		head[0] = eventFormatFlate
		body = z
	}
	return append(head, body...), nil
}

// decode decodes the event stored under the key suffix seqKey (8 bytes) with value v. It
// copies everything out of v and returns an error, never panics, on a damaged value.
func (c *eventCodec) decode(seqKey, v []byte) (Event, error) {
	if len(seqKey) != 8 {
		return Event{}, fmt.Errorf("history key with a %d-byte sequence number", len(seqKey))
	}
	e := Event{Seq: binary.BigEndian.Uint64(seqKey)}
	if len(v) == 0 {
		return Event{}, fmt.Errorf("event %d: empty value", e.Seq)
	}
	format, rest := v[0], v[1:]
	sec, n := binary.Varint(rest)
	if n <= 0 {
		return Event{}, fmt.Errorf("event %d: bad time", e.Seq)
	}
	rest = rest[n:]
	nsec, n := binary.Uvarint(rest)
	if n <= 0 || nsec >= 1e9 {
		return Event{}, fmt.Errorf("event %d: bad time", e.Seq)
	}
	rest = rest[n:]
	e.At = time.Unix(sec, int64(nsec)).UTC()
	var body []byte
	switch format {
	case eventFormatRaw:
		body = rest
	case eventFormatFlate:
		var err error
		if body, err = c.events.inflate(rest); err != nil {
			return Event{}, fmt.Errorf("event %d: %w", e.Seq, err)
		}
	default:
		return Event{}, fmt.Errorf("event %d: unknown format %d", e.Seq, format)
	}
	kind, body, ok := cutString(body)
	if !ok {
		return Event{}, fmt.Errorf("event %d: bad kind", e.Seq)
	}
	msg, body, ok := cutString(body)
	if !ok {
		return Event{}, fmt.Errorf("event %d: bad message", e.Seq)
	}
	e.Kind, e.Message = kind, msg
	if len(body) > 0 {
		if !json.Valid(body) {
			return Event{}, fmt.Errorf("event %d: data is not JSON", e.Seq)
		}
		e.Data = append(json.RawMessage(nil), body...) // body may alias the mmap'd value
	}
	return e, nil
}

// cutString reads a uvarint length and that many bytes (copied into a string).
func cutString(b []byte) (string, []byte, bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return "", nil, false
	}
	return string(b[n : n+int(l)]), b[n+int(l):], true
}

// appendEvents appends events to the order's history: in the flat bucket from schema version
// 3 on, in the order's own bucket before (a store kept at an older version by
// Options.Migrations, as the migration tests do).
func appendEvents(tx *bolt.Tx, c *eventCodec, orderID string, now time.Time, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := validOrderID(orderID); err != nil {
		return err
	}
	b := tx.Bucket([]byte(bucketEvents))
	if b == nil {
		return appendLegacyEvents(tx, orderID, now, events)
	}
	b.FillPercent = fillPercent
	prefix := historyPrefix(orderID)
	seq, err := lastSeq(b, prefix)
	if err != nil {
		return err
	}
	for _, e := range events {
		seq++
		if e.At.IsZero() {
			e.At = now
		}
		v, err := c.encode(e)
		if err != nil {
			return fmt.Errorf("encode event %q: %w", e.Kind, err)
		}
		if err := b.Put(eventKey(prefix, seq), v); err != nil {
			return err
		}
	}
	return nil
}

// lastSeq returns the highest seq of the events under prefix, 0 when there are none.
func lastSeq(b *bolt.Bucket, prefix []byte) (uint64, error) {
	// Keys of this order sort before id+0x01; the one before that bound is its last event.
	bound := append(bytes.Clone(prefix[:len(prefix)-1]), 1)
	c := b.Cursor()
	k, _ := c.Seek(bound)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return 0, nil
	}
	if len(k) != len(prefix)+8 {
		return 0, fmt.Errorf("history key %q has a %d-byte sequence number", k, len(k)-len(prefix))
	}
	return binary.BigEndian.Uint64(k[len(prefix):]), nil
}

// readHistory returns the order's events, oldest first, from either layout.
func readHistory(tx *bolt.Tx, c *eventCodec, orderID string) ([]Event, error) {
	b := tx.Bucket([]byte(bucketEvents))
	if b == nil {
		return readLegacyHistory(tx, orderID)
	}
	if validOrderID(orderID) != nil {
		return nil, nil
	}
	prefix := historyPrefix(orderID)
	var events []Event
	cur := b.Cursor()
	for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		e, err := c.decode(k[len(prefix):], v)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}

// appendLegacyEvents appends like versions 1–2: JSON events in the order's own bucket.
func appendLegacyEvents(tx *bolt.Tx, orderID string, now time.Time, events []Event) error {
	h := tx.Bucket([]byte(bucketHistory))
	if h == nil {
		return errors.New("no history bucket")
	}
	b, err := h.CreateBucketIfNotExists([]byte(orderID))
	if err != nil {
		return err
	}
	for _, e := range events {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.Seq = seq
		if e.At.IsZero() {
			e.At = now
		}
		data, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %q: %w", e.Kind, err)
		}
		if err := b.Put(itob(seq), data); err != nil {
			return err
		}
	}
	return nil
}

// readLegacyHistory reads the order's own bucket of versions 1–2.
func readLegacyHistory(tx *bolt.Tx, orderID string) ([]Event, error) {
	h := tx.Bucket([]byte(bucketHistory))
	if h == nil {
		return nil, nil
	}
	b := h.Bucket([]byte(orderID))
	if b == nil {
		return nil, nil
	}
	var events []Event
	err := b.ForEach(func(_, v []byte) error {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		events = append(events, e)
		return nil
	})
	return events, err
}

// flattenBatch is how many orders' histories one migration step moves.
const flattenBatch = 500

// flattenHistory returns a step of migration 3: it moves the histories of up to flattenBatch
// orders from their own buckets into the flat events bucket, deleting each moved bucket in the
// same transaction, and reports whether some are left. Events keep their order; they are
// numbered after any events the order already has in the flat bucket (none, unless an older
// shipbridge wrote to a store whose migration was interrupted), so no event is overwritten.
func flattenHistory(codec *eventCodec) func(tx *bolt.Tx) (bool, error) {
	return func(tx *bolt.Tx) (bool, error) { return flattenHistoryStep(tx, codec) }
}

func flattenHistoryStep(tx *bolt.Tx, codec *eventCodec) (bool, error) {
	flat, err := tx.CreateBucketIfNotExists([]byte(bucketEvents))
	if err != nil {
		return false, err
	}
	flat.FillPercent = fillPercent
	h := tx.Bucket([]byte(bucketHistory))
	if h == nil {
		return compressRecordsStep(tx, codec)
	}
	var ids [][]byte
	more := false
	c := h.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			return false, fmt.Errorf("history: key %q is not an order's bucket", k)
		}
		if len(ids) == flattenBatch {
			more = true
			break
		}
		ids = append(ids, bytes.Clone(k))
	}
	for _, id := range ids {
		if err := validOrderID(string(id)); err != nil {
			return false, fmt.Errorf("history: %w", err)
		}
		prefix := historyPrefix(string(id))
		seq, err := lastSeq(flat, prefix)
		if err != nil {
			return false, err
		}
		err = h.Bucket(id).ForEach(func(k, v []byte) error {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode event %x of order %q: %w", k, id, err)
			}
			seq++
			enc, err := codec.encode(e)
			if err != nil {
				return fmt.Errorf("encode event %x of order %q: %w", k, id, err)
			}
			return flat.Put(eventKey(prefix, seq), enc)
		})
		if err != nil {
			return false, err
		}
		if err := h.DeleteBucket(id); err != nil {
			return false, err
		}
	}
	if more || len(ids) > 0 {
		return true, nil
	}
	return compressRecordsStep(tx, codec)
}

// compressRecordsStep rewrites up to flattenBatch order records still stored as plain JSON in
// the compressed form, and reports whether some may be left.
func compressRecordsStep(tx *bolt.Tx, codec *eventCodec) (bool, error) {
	b := tx.Bucket([]byte(bucketOrders))
	if b == nil {
		return false, nil
	}
	b.FillPercent = fillPercent
	type kv struct{ k, v []byte }
	var todo []kv
	c := b.Cursor()
	for k, v := c.First(); k != nil && len(todo) < flattenBatch; k, v = c.Next() {
		if len(v) > 0 && v[0] == '{' {
			todo = append(todo, kv{bytes.Clone(k), bytes.Clone(v)})
		}
	}
	for _, r := range todo {
		var rec OrderRecord
		if err := json.Unmarshal(r.v, &rec); err != nil {
			return false, fmt.Errorf("decode order %q: %w", r.k, err)
		}
		// Compressed even when longer, so that no step finds it again.
		v, err := codec.encodeRecordAs(rec, true)
		if err != nil {
			return false, fmt.Errorf("encode order %q: %w", r.k, err)
		}
		if err := b.Put(r.k, v); err != nil {
			return false, err
		}
	}
	return len(todo) == flattenBatch, nil
}
