package orders

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Order is what the shop's checkout sends as a record's data.
type Order struct {
	OrderID    string `json:"orderId"`
	CustomerID string `json:"customerId"`
	// Currency is an ISO 4217 code the team accepts (CURRENCIES).
	Currency string `json:"currency"`
	Lines    []Line `json:"lines"`
	// TotalCents is the sum of the lines' quantity times unit price.
	TotalCents int64 `json:"totalCents"`
}

// Line is one product of an order.
type Line struct {
	SKU            string `json:"sku"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unitPriceCents"`
}

// Bounds of an order: beyond them it is a client bug, not a sale.
const (
	maxIDLen     = 64
	maxLines     = 100
	maxQuantity  = 10_000
	maxUnitCents = 100_000_000 // one million in the currency's main unit
)

// ErrNotJSON: the record's data is bytes (base64), not a JSON order.
var ErrNotJSON = errors.New("data is not JSON")

// parseOrder decodes and checks an order. Fields it does not know are
// ignored (a newer checkout may send more); a field of the wrong type, a
// missing one or a total that does not add up is an error naming it.
func parseOrder(data json.RawMessage, currencies map[string]bool) (Order, error) {
	var o Order
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&o); err != nil {
		return Order{}, fmt.Errorf("decode order: %w", err)
	}
	if err := o.check(currencies); err != nil {
		return Order{}, err
	}
	return o, nil
}

func (o *Order) check(currencies map[string]bool) error {
	if err := checkID("orderId", o.OrderID); err != nil {
		return err
	}
	if err := checkID("customerId", o.CustomerID); err != nil {
		return err
	}
	if !currencies[o.Currency] {
		return fmt.Errorf("currency %q: want one of %s", o.Currency, setString(currencies))
	}
	if len(o.Lines) == 0 || len(o.Lines) > maxLines {
		return fmt.Errorf("lines: got %d, want 1 to %d", len(o.Lines), maxLines)
	}
	var total int64
	for i, l := range o.Lines {
		if err := checkID(fmt.Sprintf("lines[%d].sku", i), l.SKU); err != nil {
			return err
		}
		if l.Quantity < 1 || l.Quantity > maxQuantity {
			return fmt.Errorf("lines[%d].quantity %d: want 1 to %d", i, l.Quantity, maxQuantity)
		}
		if l.UnitPriceCents < 0 || l.UnitPriceCents > maxUnitCents {
			return fmt.Errorf("lines[%d].unitPriceCents %d: want 0 to %d", i, l.UnitPriceCents, maxUnitCents)
		}
		// The bounds keep this far from overflowing: 100 * 1e4 * 1e8.
		total += l.Quantity * l.UnitPriceCents
	}
	if o.TotalCents != total {
		return fmt.Errorf("totalCents %d: the lines add up to %d", o.TotalCents, total)
	}
	return nil
}

func checkID(field, v string) error {
	if v == "" || len(v) > maxIDLen || !utf8.ValidString(v) {
		return fmt.Errorf("%s %q: want 1 to %d bytes of UTF-8", field, v, maxIDLen)
	}
	return nil
}
