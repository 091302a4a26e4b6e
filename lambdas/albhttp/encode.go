package albhttp

import (
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// appendResponse appends resp as Lambda's Go runtime encodes it
// (encoding/json without HTML escaping, no final newline): the same bytes,
// which TestAppendResponse checks against encoding/json, field by field of
// events.ALBTargetGroupResponse. The answer body is escaped eight bytes at a
// time where it needs no escape.
func appendResponse(dst []byte, resp events.ALBTargetGroupResponse) []byte {
	dst = append(dst, `{"statusCode":`...)
	dst = strconv.AppendInt(dst, int64(resp.StatusCode), 10)
	dst = append(dst, `,"statusDescription":`...)
	dst = appendString(dst, resp.StatusDescription)
	dst = append(dst, `,"headers":`...)
	if resp.Headers == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '{')
		for i, k := range sortedKeys(resp.Headers) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendString(dst, resp.Headers[k])
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"multiValueHeaders":`...)
	if resp.MultiValueHeaders == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '{')
		for i, k := range sortedKeys(resp.MultiValueHeaders) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			vs := resp.MultiValueHeaders[k]
			if vs == nil {
				dst = append(dst, "null"...)
				continue
			}
			dst = append(dst, '[')
			for j, v := range vs {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendString(dst, v)
			}
			dst = append(dst, ']')
		}
		dst = append(dst, '}')
	}
	if resp.Body != "" { // omitempty
		dst = append(dst, `,"body":`...)
		dst = appendString(dst, resp.Body)
	}
	dst = append(dst, `,"isBase64Encoded":`...)
	dst = strconv.AppendBool(dst, resp.IsBase64Encoded)
	return append(dst, '}')
}

// sortedKeys returns m's keys in encoding/json's order (byte-wise).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does
// without HTML escaping: \" \\ \b \f \n \r \t, \u00XX for the other control
// characters, \u2028 and \u2029, and \ufffd for each byte of invalid UTF-8.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			x := load64(s, i)
			quote, bs := x^('"'*ones), x^('\\'*ones)
			// As in unquoteString: the lowest flagged byte is the first
			// byte >= 0x80, < 0x20, '"' or '\'.
			m := (x | (x-0x20*ones)&^x | (quote-ones)&^quote | (bs-ones)&^bs) & highs
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				dst = append(append(dst, s[start:i]...), `\ufffd`...)
			case r == '\u2028' || r == '\u2029':
				dst = append(append(dst, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			default:
				i += size
				continue
			}
			i += size
			start = i
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '\\', '"':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// load64 reads eight bytes of s at i, little-endian (one load once
// compiled).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
