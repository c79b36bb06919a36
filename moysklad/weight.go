package moysklad

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
)

// Effective weights (PRODUCT.md rule 12).
//
// MoySklad gives a weight only to products and bundles (schemas Product and
// Bundle have "weight"; Variant, Service and Consignment have none). A
// variant weighs what its product weighs: Variant.product is a meta
// reference, so the product is read by its href unless it came expanded. A
// bundle weighs its own weight, or, when that is 0, Σ component weight ×
// component quantity, the components being read from
// GET /entity/bundle/{id}/components?expand=assortment&limit=100 (expand
// is honoured only with limit ≤ 100; the order list's expand
// positions.assortment is already 2 of the 3 levels MoySklad allows, so the
// components cannot be expanded from there). A consignment weighs what its
// assortment weighs.
//
// A lookup that fails is an error, never weight 0: a wrong weight would be
// sent to the carrier silently.

// maxWeightDepth bounds the chain bundle → component → variant → product
// (and consignment → variant → product); deeper means a loop in a bad answer.
const maxWeightDepth = 4

// weightResolver computes effective unit weights, caching every looked-up
// entity's weight for the duration of one client call.
type weightResolver struct {
	c     *Client
	cache map[string]float64 // "type/id" → effective weight
}

func (c *Client) newWeightResolver() *weightResolver {
	return &weightResolver{c: c, cache: map[string]float64{}}
}

// resolveOrder replaces each position's Assortment.Weight with the
// effective weight of one unit.
func (r *weightResolver) resolveOrder(ctx context.Context, o *Order) error {
	for i := range o.Positions {
		a := &o.Positions[i].Assortment
		w, err := r.weightOf(ctx, *a, 0)
		var refused *Error
		if errors.As(err, &refused) && refused.StatusCode >= 400 && refused.StatusCode < 500 && refused.StatusCode != 429 {
			// MoySklad refuses the lookup for good (a product deleted or
			// hidden from this token): the position's weight is unknown,
			// which the workflow reports on this order alone, instead of
			// failing the whole listing every cycle.
			a.Weight = 0
			a.WeightUnknown = fmt.Sprintf("%s %s: %v", a.Type(), a.Meta.ID(), err)
			continue
		}
		if err != nil {
			return fmt.Errorf("moysklad: order %s: weight of %s %s: %w", o.Name, a.Type(), a.Meta.ID(), err)
		}
		a.Weight = w
	}
	return nil
}

func (r *weightResolver) weightOf(ctx context.Context, a Assortment, depth int) (float64, error) {
	if depth > maxWeightDepth {
		return 0, errors.New("assortment references nest too deep")
	}
	id := a.ID
	if id == "" {
		id = a.Meta.ID()
	}
	typ := a.Type()
	key := typ + "/" + id
	if w, ok := r.cache[key]; ok {
		return w, nil
	}
	var w float64
	switch typ {
	case "service":
		w = 0 // not goods; no weight in the schema
	case "product":
		if !a.expanded() {
			if err := r.get(ctx, "product", id, &a); err != nil {
				return 0, err
			}
		}
		w = a.Weight
	case "variant":
		if a.Product == nil {
			if err := r.get(ctx, "variant", id, &a); err != nil {
				return 0, err
			}
		}
		if a.Product == nil || a.Product.Meta.Href == "" {
			return 0, fmt.Errorf("variant %s has no product", id)
		}
		pw, err := r.weightOf(ctx, *a.Product, depth+1)
		if err != nil {
			return 0, err
		}
		w = pw
	case "bundle":
		if !a.expanded() {
			if err := r.get(ctx, "bundle", id, &a); err != nil {
				return 0, err
			}
		}
		if a.Weight > 0 {
			w = a.Weight
			break
		}
		cw, err := r.componentsWeight(ctx, a, id, depth)
		if err != nil {
			return 0, err
		}
		w = cw
	case "consignment":
		if a.Of == nil {
			if err := r.get(ctx, "consignment", id, &a); err != nil {
				return 0, err
			}
		}
		if a.Of == nil || a.Of.Meta.Href == "" {
			return 0, fmt.Errorf("consignment %s has no assortment", id)
		}
		ow, err := r.weightOf(ctx, *a.Of, depth+1)
		if err != nil {
			return 0, err
		}
		w = ow
	default:
		// An unknown assortment type: its own weight field, if any.
		w = a.Weight
	}
	if w < 0 {
		w = 0
	}
	r.cache[key] = w
	return w, nil
}

// componentsWeight sums a bundle's components: the rows it came with when
// they are all there, else the components collection read page by page.
func (r *weightResolver) componentsWeight(ctx context.Context, b Assortment, id string, depth int) (float64, error) {
	var rows []BundleComponent
	if b.Components != nil && b.Components.Rows != nil && len(b.Components.Rows) >= b.Components.Meta.Size {
		rows = b.Components.Rows
	} else {
		for offset := 0; ; {
			var page struct {
				Meta Meta              `json:"meta"`
				Rows []BundleComponent `json:"rows"`
			}
			q := encodeQuery(queryParam{"limit", strconv.Itoa(pageLimit)}, queryParam{"offset", strconv.Itoa(offset)}, queryParam{"expand", "assortment"})
			path := "/entity/bundle/" + url.PathEscape(id) + "/components"
			if err := r.c.do(ctx, request{method: "GET", path: path, query: q, idempotent: true}, &page); err != nil {
				return 0, err
			}
			rows = append(rows, page.Rows...)
			offset += len(page.Rows)
			if len(page.Rows) == 0 || offset >= page.Meta.Size {
				break
			}
		}
	}
	var sum float64
	for _, comp := range rows {
		if comp.Assortment.Type() == "bundle" {
			return 0, fmt.Errorf("bundle %s contains bundle %s", id, comp.Assortment.Meta.ID())
		}
		cw, err := r.weightOf(ctx, comp.Assortment, depth+1)
		if err != nil {
			return 0, err
		}
		sum += cw * comp.Quantity
	}
	return sum, nil
}

// get reads one assortment entity by type and id.
func (r *weightResolver) get(ctx context.Context, typ, id string, out *Assortment) error {
	if id == "" {
		return fmt.Errorf("%s without id", typ)
	}
	var a Assortment
	if err := r.c.do(ctx, request{method: "GET", path: "/entity/" + typ + "/" + url.PathEscape(id), idempotent: true}, &a); err != nil {
		return err
	}
	if a.Type() == "" {
		a.Meta.Type = typ
	}
	*out = a
	return nil
}
