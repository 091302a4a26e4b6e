package record

import (
	"bytes"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// decodeAppended reads an envelope in the form Append writes, in one pass:
// the fields in Append's order, strings without escapes, compact data, the
// time as Append formats it, nothing after the object. ok is false for
// anything else, and Decode then takes the general path (encoding/json,
// which checks the whole input before decoding it: a second pass, and most
// of Decode's time). Whatever it accepts, it decodes exactly as that path
// does (FuzzDecodeAppended compares them); it does not validate.
//
// Ingest and replay write every envelope with Append, so in practice every
// record a processor reads takes this path.
func decodeAppended(b []byte) (e Envelope, ok bool) {
	p := parser{b: b}
	if !p.lit(`{"id":`) {
		return Envelope{}, false
	}
	if e.ID, ok = p.str(nil); !ok {
		return Envelope{}, false
	}
	if p.lit(`,"producer":`) {
		if e.Producer, ok = p.str(&lastProducer); !ok {
			return Envelope{}, false
		}
	}
	if !p.lit(`,"region":`) {
		return Envelope{}, false
	}
	if e.Region, ok = p.str(&lastRegion); !ok {
		return Envelope{}, false
	}
	if !p.lit(`,"receivedAt":"`) {
		return Envelope{}, false
	}
	if e.ReceivedAt, ok = p.time(); !ok {
		return Envelope{}, false
	}
	if !p.lit(`","partitionKey":`) {
		return Envelope{}, false
	}
	if pk, ok := p.raw(); !ok {
		return Envelope{}, false
	} else if string(pk) == e.ID {
		e.PartitionKey = e.ID // the usual case: no second string
	} else {
		e.PartitionKey = string(pk)
	}
	if !p.lit(`,"encoding":`) {
		return Envelope{}, false
	}
	switch {
	case p.lit(`"json"`):
		e.Encoding = EncodingJSON
	case p.lit(`"base64"`):
		e.Encoding = EncodingBase64
	default:
		return Envelope{}, false
	}
	if !p.lit(`,"data":`) {
		return Envelope{}, false
	}
	start := p.i
	if p.i >= len(b) || b[p.i] == 'n' || !p.value() {
		// null takes the general path, which knows what encoding/json
		// makes of it.
		return Envelope{}, false
	}
	e.Data = bytes.Clone(b[start:p.i])
	if p.lit(`,"canary":true`) {
		e.Canary = true
	}
	if !p.lit(`}`) || p.i != len(b) {
		return Envelope{}, false
	}
	return e, true
}

// lastRegion and lastProducer remember the last string of each field: a
// batch holds few regions and producers, so most envelopes share the
// string instead of allocating their own.
var lastRegion, lastProducer atomic.Pointer[string]

// parser reads b from i on.
type parser struct {
	b []byte
	i int
}

// lit consumes s if b continues with it.
func (p *parser) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// raw consumes a JSON string without escapes, control characters or invalid
// UTF-8 (whose value is then its bytes, as encoding/json would read it) and
// returns its content.
func (p *parser) raw() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	start := p.i + 1
	var or byte // of every byte: 0x80 set when one is not ASCII
	i := start
	for i < len(p.b) && !special[p.b[i]] {
		or |= p.b[i]
		i++
	}
	if i >= len(p.b) || p.b[i] != '"' {
		return nil, false
	}
	s := p.b[start:i]
	if or >= utf8.RuneSelf && !utf8.Valid(s) {
		return nil, false
	}
	p.i = i + 1
	return s, true
}

// special marks the bytes that end the plain run of a JSON string: the
// quote, the backslash, and the control characters a string may not hold.
var special = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// str is raw as a string; cache, when given, holds the last string made for
// this field, reused when equal.
func (p *parser) str(cache *atomic.Pointer[string]) (string, bool) {
	b, ok := p.raw()
	if !ok {
		return "", false
	}
	if cache != nil {
		if last := cache.Load(); last != nil && *last == string(b) {
			return *last, true
		}
		s := string(b)
		cache.Store(&s)
		return s, true
	}
	return string(b), true
}

// time consumes YYYY-MM-DDTHH:MM:SS.mmmZ, a valid time (as time.Parse
// checks it: day within the month, no second 60), in UTC.
func (p *parser) time() (time.Time, bool) {
	const layout = "0000-00-00T00:00:00.000Z"
	if len(p.b)-p.i < len(layout) {
		return time.Time{}, false
	}
	b := p.b[p.i : p.i+len(layout)]
	var n [7]int // year, month, day, hour, minute, second, millisecond
	f := 0
	for i := 0; i < len(layout); i++ {
		c := b[i]
		if layout[i] != '0' {
			if c != layout[i] {
				return time.Time{}, false
			}
			f++
			continue
		}
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		n[f] = n[f]*10 + int(c-'0')
	}
	y, mo, d := n[0], time.Month(n[1]), n[2]
	if mo < time.January || mo > time.December || d < 1 || d > daysIn(mo, y) || n[3] > 23 || n[4] > 59 || n[5] > 59 {
		return time.Time{}, false
	}
	p.i += len(layout)
	return time.Date(y, mo, d, n[3], n[4], n[5], n[6]*int(time.Millisecond), time.UTC), true
}

func daysIn(m time.Month, year int) int {
	if m == time.February {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 31 - int((m-1)%7%2)
}

// maxDepth is encoding/json's nesting limit; deeper data takes the general
// path, which reports it.
const maxDepth = 10000

// value consumes one compact JSON value (RFC 8259, no whitespace anywhere
// outside strings) and reports whether it was one. Strings may hold any
// bytes from 0x20 up, as encoding/json allows (Validate checks UTF-8).
func (p *parser) value() bool {
	b := p.b
	i := p.i
	// stack holds the open containers: '{' or '['.
	var stackBuf [32]byte
	stack := stackBuf[:0]
	for {
		// A value starts at i.
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if len(stack) == maxDepth {
				return false
			}
			stack = append(stack, c)
			i++
			if i < len(b) && b[i] == c+2 { // '}' or ']': empty
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				if i = p.key(i); i < 0 {
					return false
				}
			}
			continue
		case c == '"':
			if i = skipStr(b, i); i < 0 {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			if i = skipNum(b, i); i < 0 {
				return false
			}
		case c == 't':
			if !bytes.HasPrefix(b[i:], []byte("true")) {
				return false
			}
			i += 4
		case c == 'f':
			if !bytes.HasPrefix(b[i:], []byte("false")) {
				return false
			}
			i += 5
		case c == 'n':
			if !bytes.HasPrefix(b[i:], []byte("null")) {
				return false
			}
			i += 4
		default:
			return false
		}
		// A value ended at i: close containers, or go on to the next member.
		for {
			if len(stack) == 0 {
				p.i = i
				return true
			}
			if i >= len(b) {
				return false
			}
			top := stack[len(stack)-1]
			if b[i] == top+2 {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return false
			}
			i++
			if top == '{' {
				if i = p.key(i); i < 0 {
					return false
				}
			}
			break
		}
	}
}

// key consumes `"name":` at i and returns where the value starts, or -1.
func (p *parser) key(i int) int {
	if i >= len(p.b) || p.b[i] != '"' {
		return -1
	}
	if i = skipStr(p.b, i); i < 0 || i >= len(p.b) || p.b[i] != ':' {
		return -1
	}
	return i + 1
}

// skipStr returns the index after the JSON string at b[i] ('"'), or -1.
func skipStr(b []byte, i int) int {
	for i++; i < len(b); i++ {
		for i < len(b) && !special[b[i]] {
			i++
		}
		if i >= len(b) {
			return -1
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// skipNum returns the index after the JSON number at b[i], or -1.
func skipNum(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	digits := func() bool {
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > s
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return -1
		}
	}
	return i
}
