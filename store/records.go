package store

import (
	"encoding/json"
	"fmt"
)

// Order records are stored as their JSON (versions 1–2, and any record that does not
// compress), or as recordFormatFlate followed by the JSON compressed with DEFLATE and
// recordDict as preset dictionary. JSON starts with '{', so the first byte tells them apart.
const recordFormatFlate = 1

// recordDict is the DEFLATE preset dictionary of compressed order records: the JSON names of
// OrderRecord and of the workflow's pending state, with typical values. It is part of the
// file format: NEVER change it; a different dictionary needs a new format byte.
const recordDict = `{"error":"Заказ не отправлен:\n• ","write_back":{"state":"failed","outcome":"","waybill":{"filename":"waybill.pdf","content":"` +
	`"next_attempt_at":"","retries":1,"intent_at":"","unanswered":true,"retry_noted":true,"clear_tracking":true,"clear_waybill":true,` +
	`"carrier_data":{},"delivery":{"status":"delivered","code":"DELIVERED","name":"Вручен","at":"","checked_at":""},"waybill_for":"` +
	`{"id":"","name":"","carrier":"cdek","phase":"registered","attempt":1,"number":"","reference":"","tracking_number":"",` +
	`"last_updated":"2026-","last_state":"Зарегистрирован перевозчиком","pending":{"trigger":"ready","trigger_updated":"2026-` +
	`","settled":true},"open":true,"created_at":"2026-","updated_at":"2026-`

// encodeRecord encodes rec for the orders bucket: compressed when that is shorter.
func (c *eventCodec) encodeRecord(rec OrderRecord) ([]byte, error) {
	return c.encodeRecordAs(rec, false)
}

// encodeRecordAs is encodeRecord; with compressed set it compresses whatever the size.
func (c *eventCodec) encodeRecordAs(rec OrderRecord, compressed bool) ([]byte, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	z, shorter, err := c.records.compress(data)
	if err != nil {
		return nil, err
	}
	if !shorter && !compressed {
		return data, nil
	}
	return append([]byte{recordFormatFlate}, z...), nil
}

// decodeRecord decodes a value of the orders bucket; it copies everything out of v.
func (c *eventCodec) decodeRecord(v []byte, rec *OrderRecord) error {
	if len(v) > 0 && v[0] == recordFormatFlate {
		data, err := c.records.inflate(v[1:])
		if err != nil {
			return err
		}
		v = data
	}
	// json.Unmarshal copies everything, RawMessage included, out of the mmap'd value.
	if err := json.Unmarshal(v, rec); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}
