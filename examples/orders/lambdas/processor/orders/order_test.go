package orders

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var currencies = map[string]bool{"EUR": true, "USD": true}

func TestParseOrder(t *testing.T) {
	long := strings.Repeat("x", maxIDLen+1)
	tests := []struct {
		name    string
		data    string
		want    Order
		wantErr string
	}{
		{
			name: "order",
			data: `{"orderId":"o-1","customerId":"c-7","currency":"EUR","lines":[{"sku":"tea","quantity":2,"unitPriceCents":450},{"sku":"cup","quantity":1,"unitPriceCents":0}],"totalCents":900}`,
			want: Order{OrderID: "o-1", CustomerID: "c-7", Currency: "EUR", TotalCents: 900,
				Lines: []Line{{SKU: "tea", Quantity: 2, UnitPriceCents: 450}, {SKU: "cup", Quantity: 1}}},
		},
		{
			name: "unknown fields ignored",
			data: `{"orderId":"o-1","customerId":"c-7","currency":"USD","lines":[{"sku":"tea","quantity":1,"unitPriceCents":5,"gift":true}],"totalCents":5,"coupon":"X"}`,
			want: Order{OrderID: "o-1", CustomerID: "c-7", Currency: "USD", TotalCents: 5, Lines: []Line{{SKU: "tea", Quantity: 1, UnitPriceCents: 5}}},
		},
		{name: "not an object", data: `[1,2]`, wantErr: "decode order: json: cannot unmarshal array"},
		{name: "wrong type", data: `{"orderId":7}`, wantErr: "decode order: json: cannot unmarshal number into Go struct field Order.orderId of type string"},
		{name: "fractional quantity", data: `{"orderId":"o-1","customerId":"c","currency":"EUR","lines":[{"sku":"tea","quantity":1.5}]}`, wantErr: "cannot unmarshal number 1.5"},
		{name: "no order id", data: `{"customerId":"c","currency":"EUR"}`, wantErr: `orderId "": want 1 to 64 bytes of UTF-8`},
		{name: "long customer id", data: `{"orderId":"o","customerId":"` + long + `","currency":"EUR"}`, wantErr: "customerId"},
		{name: "currency not accepted", data: `{"orderId":"o","customerId":"c","currency":"GBP"}`, wantErr: `currency "GBP": want one of EUR, USD`},
		{name: "no lines", data: `{"orderId":"o","customerId":"c","currency":"EUR","lines":[]}`, wantErr: "lines: got 0, want 1 to 100"},
		{name: "no sku", data: `{"orderId":"o","customerId":"c","currency":"EUR","lines":[{"quantity":1}]}`, wantErr: `lines[0].sku "": want 1 to 64 bytes`},
		{name: "zero quantity", data: `{"orderId":"o","customerId":"c","currency":"EUR","lines":[{"sku":"a","quantity":0}]}`, wantErr: "lines[0].quantity 0: want 1 to 10000"},
		{name: "negative price", data: `{"orderId":"o","customerId":"c","currency":"EUR","lines":[{"sku":"a","quantity":1,"unitPriceCents":-1}]}`, wantErr: "lines[0].unitPriceCents -1: want 0 to 100000000"},
		{name: "total does not add up", data: `{"orderId":"o","customerId":"c","currency":"EUR","lines":[{"sku":"a","quantity":3,"unitPriceCents":100}],"totalCents":200}`, wantErr: "totalCents 200: the lines add up to 300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOrder(json.RawMessage(tt.data), currencies)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseOrderManyLines(t *testing.T) {
	line := `{"sku":"a","quantity":1,"unitPriceCents":1}`
	lines := func(n int) string { return strings.TrimSuffix(strings.Repeat(line+",", n), ",") }
	for _, tt := range []struct {
		n       int
		wantErr bool
	}{{maxLines, false}, {maxLines + 1, true}} {
		data := `{"orderId":"o","customerId":"c","currency":"EUR","lines":[` + lines(tt.n) + `],"totalCents":` + strconv.Itoa(tt.n) + `}`
		_, err := parseOrder(json.RawMessage(data), currencies)
		if (err != nil) != tt.wantErr {
			t.Errorf("%d lines: got error %v, want error %v", tt.n, err, tt.wantErr)
		}
	}
}
