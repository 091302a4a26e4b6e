package albhttp

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// decodeEvent decodes a Lambda payload holding an ALB event exactly as
// Lambda's Go runtime does (aws-lambda-go: encoding/json's Decoder, first
// value of the payload), with the same result and the same error for every
// payload. It is faster for a large body: encoding/json scans the body's
// JSON string three times byte by byte; here the body is cut out of the
// payload, unescaped in one pass, and encoding/json decodes only the rest
// (method, path, headers: about 1 KB). Any payload that is not the plain
// case (see fastDecode) is left to encoding/json whole.
func decodeEvent(payload []byte) (events.ALBTargetGroupRequest, error) {
	if ev, ok := fastDecode(payload); ok {
		return ev, nil
	}
	var ev events.ALBTargetGroupRequest
	err := json.NewDecoder(bytes.NewReader(payload)).Decode(&ev)
	return ev, err
}

// fastDecode decodes p when it is an object with exactly one member named
// "body" (no other key encoding/json would match to the Body field: those
// differing in case, escaped or non-ASCII keys), whose value is a string,
// and when encoding/json accepts the object with that value replaced by "".
// Then the result is encoding/json's: the other members are decoded by it,
// and the body is unescaped as it would (or by it, when unquote declines).
func fastDecode(p []byte) (ev events.ALBTargetGroupRequest, ok bool) {
	m, found := bodyMember(p)
	if !found {
		return ev, false
	}
	rest := make([]byte, 0, m.end-m.start-(m.ve-m.vs)+2)
	rest = append(rest, p[m.start:m.vs]...)
	rest = append(rest, `""`...)
	rest = append(rest, p[m.ve:m.end]...)
	if json.Unmarshal(rest, &ev) != nil {
		return ev, false
	}
	if !m.decoded && json.Unmarshal(p[m.vs:m.ve], &m.body) != nil {
		return ev, false
	}
	ev.Body = m.body
	return ev, true
}

// member is where bodyMember found the body: start and end delimit the
// object, vs and ve the value of its "body" member, which is body when
// decoded (unquote took it), else left to encoding/json.
type member struct {
	start, vs, ve, end int
	body               string
	decoded            bool
}

// bodyMember walks the top-level object that starts p (after whitespace)
// and finds its "body" member, decoding the body on the way when it can.
// found is false when p does not start with an object whose members can be
// walked (encoding/json then decides what it is), when "body" is missing,
// repeated or not a string, or when another key might name the Body field.
// It never reads out of bounds, whatever p holds; on valid JSON its walk is
// exact, and the caller has encoding/json check the rest.
func bodyMember(p []byte) (m member, found bool) {
	i := skipSpace(p, 0)
	if i >= len(p) || p[i] != '{' {
		return
	}
	m.start, m.vs = i, -1
	i = skipSpace(p, i+1)
	for i < len(p) && p[i] == '"' {
		ks := i
		if i = skipString(p, i); i < 0 {
			return
		}
		key := p[ks+1 : i-1]
		if i = skipSpace(p, i); i >= len(p) || p[i] != ':' {
			return
		}
		if i = skipSpace(p, i+1); i >= len(p) {
			return
		}
		v := i
		switch {
		case string(key) == "body":
			if m.vs >= 0 || p[v] != '"' {
				return
			}
			// One pass finds the string's end and unescapes it.
			if m.body, i, m.decoded = unquoteString(p, v); !m.decoded {
				i = skipString(p, v)
			}
			m.vs, m.ve = v, i
		case mayNameBody(key):
			return
		default:
			i = skipValue(p, i)
		}
		if i < 0 {
			return
		}
		if i = skipSpace(p, i); i >= len(p) {
			return
		}
		switch p[i] {
		case ',':
			i = skipSpace(p, i+1)
		case '}':
			m.end = i + 1
			return m, m.vs >= 0
		default:
			return
		}
	}
	return
}

// mayNameBody reports whether encoding/json might match the raw key to the
// Body field (it matches keys case-insensitively, after unescaping, with
// Unicode folding): any key with an escape or a non-ASCII byte counts.
func mayNameBody(key []byte) bool {
	for _, c := range key {
		if c == '\\' || c >= utf8.RuneSelf {
			return true
		}
	}
	return bytes.EqualFold(key, []byte("body"))
}

func skipSpace(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n') {
		i++
	}
	return i
}

// skipString returns the index just past the string that starts at p[i]
// ('"'), or -1 when it does not end: a quote ends it unless an odd run of
// backslashes precedes it.
func skipString(p []byte, i int) int {
	start := i + 1
	for i = start; i < len(p); i++ {
		j := bytes.IndexByte(p[i:], '"')
		if j < 0 {
			return -1
		}
		i += j
		k := i
		for k > start && p[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index just past the value that starts at p[i], or
// -1 when an object, array or string does not end. Nesting is counted, not
// recursed into, so deep input cannot exhaust the stack.
func skipValue(p []byte, i int) int {
	depth := 0
	for i < len(p) {
		switch p[i] {
		case '"':
			if i = skipString(p, i); i < 0 {
				return -1
			}
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // a literal cannot start here; the caller sees no ',' or '}' after a value
			}
			if depth--; depth == 0 {
				return i + 1
			}
		default:
			if depth == 0 {
				// A number or literal: up to the next delimiter.
				for ; i < len(p); i++ {
					switch p[i] {
					case ' ', '\t', '\r', '\n', ',', ':', ']', '}':
						return i
					}
				}
				return i
			}
		}
		i++
	}
	return -1
}

// unquote decodes the JSON string literal q (quotes included) as
// encoding/json does, for the strings ALB sends (see unquoteString).
func unquote(q []byte) (string, bool) {
	s, end, ok := unquoteString(q, 0)
	return s, ok && end == len(q)
}

// unquoteString decodes the JSON string that starts at p[i] ('"') as
// encoding/json does, for the strings ALB sends: UTF-8 text with the
// two-character escapes. It returns the index just past the string. ok is
// false for anything else (\u escapes, invalid UTF-8, control characters,
// a bad escape, no end), which encoding/json then decodes or rejects. Runs
// of plain ASCII are skipped eight bytes at a time and copied whole.
func unquoteString(p []byte, i int) (s string, end int, ok bool) {
	if i >= len(p) || p[i] != '"' {
		return "", i, false
	}
	i++
	var b strings.Builder
	start, run := i, i // run: the first byte not yet copied to b
	for i < len(p) {
		if i+8 <= len(p) {
			x := binary.LittleEndian.Uint64(p[i:])
			quote, bs := x^('"'*ones), x^('\\'*ones)
			// The high bit of each byte >= 0x80, < 0x20, '"' or '\'; the
			// lowest one set marks the first such byte (a borrow only
			// carries into the bytes after the one that starts it).
			m := (x | (x-0x20*ones)&^x | (quote-ones)&^quote | (bs-ones)&^bs) & highs
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		}
		switch c := p[i]; {
		case c == '"':
			if b.Cap() == 0 {
				return string(p[start:i]), i + 1, true
			}
			b.Write(p[run:i])
			return b.String(), i + 1, true
		case c == '\\':
			if i+1 >= len(p) {
				return "", i, false
			}
			if b.Cap() == 0 {
				b.Grow(len(p) - start)
			}
			b.Write(p[run:i])
			switch e := p[i+1]; e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				return "", i, false
			}
			i += 2
			run = i
		case c < 0x20:
			return "", i, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(p[i:])
			if r == utf8.RuneError && n == 1 {
				return "", i, false
			}
			i += n
		}
	}
	return "", i, false
}

// Masks for testing eight bytes at a time.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)
