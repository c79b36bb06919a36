package moysklad

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
)

// Place is a country (GET /entity/country/{id}) or a region (GET
// /entity/region/{id}): the fields of the entity an address needs. Per the
// JSON API docs (dictionaries/country, dictionaries/region) both have name,
// code and externalCode; a built-in country's code and externalCode are its
// ISO 3166 numeric code («Марокко»: "504"), a region's are its
// two-digit code («Респ Адыгея»: "01").
type Place struct {
	Name         string `json:"name"`
	Code         string `json:"code"`
	ExternalCode string `json:"externalCode"`
}

// placeCache holds the places read, by "type/id"; a place being read is
// in inflight, so that concurrent orders to the same country wait for one
// request instead of each sending its own. Failures are not cached.
type placeCache struct {
	mu       sync.Mutex
	m        map[string]Place
	inflight map[string]chan struct{}
}

// lookup returns the cached place, or a channel to wait on while another
// goroutine reads it, or neither: then the caller reads it and must call
// done.
func (pc *placeCache) lookup(key string) (p Place, ok bool, wait chan struct{}) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if p, ok := pc.m[key]; ok {
		return p, true, nil
	}
	if ch, busy := pc.inflight[key]; busy {
		return Place{}, false, ch
	}
	if pc.inflight == nil {
		pc.inflight = map[string]chan struct{}{}
	}
	pc.inflight[key] = make(chan struct{})
	return Place{}, false, nil
}

// done ends the read of key, caching p unless it failed.
func (pc *placeCache) done(key string, p Place, failed bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if !failed {
		if pc.m == nil {
			pc.m = map[string]Place{}
		}
		pc.m[key] = p
	}
	close(pc.inflight[key])
	delete(pc.inflight, key)
}

// GetPlace reads a country or region by its reference (typ "country" or
// "region"), from the client's cache when it was read before: countries
// and regions are a small, fixed set, so an account costs one request per
// distinct one for the life of the client.
func (c *Client) GetPlace(ctx context.Context, m Meta) (Place, error) {
	typ, id := m.Type, m.ID()
	if typ == "" {
		typ = entityTypeOf(m.Href)
	}
	if typ != "country" && typ != "region" {
		return Place{}, fmt.Errorf("moysklad: %q is not a country or region reference", m.Href)
	}
	if id == "" {
		return Place{}, fmt.Errorf("moysklad: %s reference without id", typ)
	}
	key := typ + "/" + id
	for {
		p, ok, wait := c.places.lookup(key)
		if ok {
			return p, nil
		}
		if wait == nil {
			break
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return Place{}, ctx.Err()
		}
	}
	var p Place
	err := c.do(ctx, request{method: "GET", path: "/entity/" + typ + "/" + url.PathEscape(id), idempotent: true}, &p)
	c.places.done(key, p, err != nil)
	if err != nil {
		return Place{}, err
	}
	return p, nil
}

// entityTypeOf is the entity type in an href such as
// ".../entity/country/{id}" ("" when there is none).
func entityTypeOf(href string) string {
	u, err := url.Parse(href)
	if err != nil {
		return ""
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2]
}

// ResolveAddress fills the country's name and codes and the region's name
// and code of a shipment address, which MoySklad gives as bare references
// (shipmentAddressFull.country / .region: meta only; the docs list no
// expand for them). Each entity is read once per client (GetPlace). An
// address without references, or already resolved, costs nothing.
func (c *Client) ResolveAddress(ctx context.Context, a *Address) error {
	if a == nil {
		return nil
	}
	if m := a.CountryMeta; m != nil && m.Href != "" && a.Country == "" && a.CountryCode == "" && a.CountryExternalCode == "" {
		p, err := c.GetPlace(ctx, *m)
		if err != nil {
			return fmt.Errorf("read the delivery address's country: %w", err)
		}
		a.Country, a.CountryCode, a.CountryExternalCode = p.Name, p.Code, p.ExternalCode
	}
	if m := a.RegionMeta; m != nil && m.Href != "" && a.Region == "" {
		p, err := c.GetPlace(ctx, *m)
		if err != nil {
			return fmt.Errorf("read the delivery address's region: %w", err)
		}
		a.Region, a.RegionCode = p.Name, p.Code
	}
	return nil
}
