package ingest

import (
	"encoding/json"
	"strings"
	"testing"
)

// validCases are bodies whose validity json.Valid decides; validJSON must
// agree on each (and FuzzValidJSON on anything else).
var validCases = []string{
	``, ` `, `{}`, ` {} `, "\t[]\r\n", `{`, `}`, `[`, `]`, `{]`, `[}`, `[1,]`, `{"a":1,}`, `{,}`, `[,1]`,
	`{"a":1}`, `{"a" : 1 , "b":[true,false,null]}`, `{"a"}`, `{"a":}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`,
	`{"a":1}}`, `{"a":1}x`, `{} {}`, `""`, `"abc"`, `"a`, `"\"`, `"\\"`, `"\/\b\f\n\r\t"`, `"\u00e9\uD83D\uDE00"`,
	`"\uZZZZ"`, `"\u12"`, `"\x"`, `"\'"`, "\"a\x00b\"", "\"a\x1fb\"", "\"a\x7fb\"", "\"\xff\xfe\"", "\"é日本\"",
	`0`, `-0`, `01`, `-01`, `1.5`, `1.`, `.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-`, `+1`, `1.5e3`, `0.0e0`,
	`123456789012345678901234567890`, `-1.2.3`, `1..2`, `0x10`, `NaN`, `Infinity`,
	`true`, `false`, `null`, `tru`, `nul`, `truex`, `true1`, `[true,false,null]`, `[nulll]`, `TRUE`,
	`{"records":[{"data":{"x":"` + strings.Repeat("y", 100) + `\"q\" ` + strings.Repeat("z", 17) + `"}}]}`,
	`"12345678"`, `"1234567"`, `"12345678\"`, `"1234567\"90"`, `"abcdefg` + "\x01" + `hij"`, `"abcdefgh\\"`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
	strings.Repeat("[", 10001),
}

func TestValidJSON(t *testing.T) {
	for _, c := range validCases {
		name := c
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
				t.Errorf("validJSON(%.60q) = %v, want %v (json.Valid)", c, got, want)
			}
		})
	}
	// Each kind of byte at each place of the first words of a string,
	// where validString switches between eight bytes at a time and one.
	for _, sp := range []string{`\"`, `\\`, `\/`, `\u0041`, `\u00`, `\x`, `\`, `"`, "\x01", "\x1f", "\x7f", "\x80", "\xff", "é", " "} {
		for pos := range 18 {
			for _, tail := range []int{0, 1, 7, 8, 9} {
				b := []byte(`["` + strings.Repeat("a", pos) + sp + strings.Repeat("b", tail) + `"]`)
				if got, want := validJSON(b), json.Valid(b); got != want {
					t.Errorf("validJSON(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
	// The benchmark's body, and every prefix of a record of it.
	body := benchBody(3)
	if !validJSON([]byte(body)) {
		t.Fatalf("validJSON(benchBody) = false, want true")
	}
	for i := range body {
		if got, want := validJSON([]byte(body[:i])), json.Valid([]byte(body[:i])); got != want {
			t.Fatalf("validJSON(body[:%d]) = %v, want %v", i, got, want)
		}
	}
}

// FuzzValidJSON checks that validJSON answers as json.Valid does.
func FuzzValidJSON(f *testing.F) {
	for _, c := range validCases {
		if len(c) < 1000 {
			f.Add([]byte(c))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, want %v (json.Valid)", b, got, want)
		}
	})
}
