package client

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Record is one record to send.
type Record struct {
	// ID identifies the record within the producer's API key: 1-256 bytes
	// of printable UTF-8. Empty: Send and Add assign a ULID (time-ordered,
	// unique), so that every retry carries the same id.
	ID string
	// PartitionKey is the Kinesis partition key (1-256 characters of
	// UTF-8). Empty: ingest uses the id.
	PartitionKey string
	// Data is the payload as a JSON value (anything but null), sent as
	// "data". Whitespace outside strings is removed before sending.
	Data json.RawMessage
	// Binary is the payload as bytes, sent base64-encoded as "dataBase64".
	// Give Data or Binary, not both.
	Binary []byte
}

// Limits of the ingest API (README, "Producer API"; lambdas/ingest/ingest).
const (
	// MaxBody is the largest request body ingest accepts, as sent (after
	// gzip): the ALB's 1 MB limit for a Lambda target, read as 1,000,000.
	MaxBody = 1_000_000
	// MaxDecodedBody is the most a gzip body may decompress to (5 MiB).
	MaxDecodedBody = 5 << 20
	// MaxResponse bounds ingest's answer; a request whose ids could not be
	// listed within it is refused (see answerSize).
	MaxResponse = 1_000_000
	// DefaultMaxRecords is ingest's MAX_RECORDS default.
	DefaultMaxRecords = 500
	// MaxMaxRecords is the largest MAX_RECORDS ingest allows.
	MaxMaxRecords = 5000
	// MaxIDLen is the longest id, in bytes.
	MaxIDLen = 256
	// MaxPartitionKeyLen is the longest partition key, in characters.
	MaxPartitionKeyLen = 256
)

// Reasons the client gives for records it refuses before sending (the
// server's own reasons, where it has one).
const (
	reasonID       = "invalid id: want 1-256 bytes of printable UTF-8"
	reasonPK       = "invalid partitionKey: want 1-256 characters of UTF-8"
	reasonNoData   = "missing data: give Data (any JSON value but null) or Binary"
	reasonBothData = "give only one of Data and Binary"
	reasonDataUTF8 = "data must be valid UTF-8 JSON"
	reasonNull     = "data must not be null"
)

// validID reports whether id is an id ingest accepts (record.ValidID).
func validID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLen || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func validPartitionKey(k string) bool {
	return k != "" && utf8.ValidString(k) && utf8.RuneCountInString(k) <= MaxPartitionKeyLen
}

// encode appends r (its ID set) as the JSON object a request carries, or
// returns the reason it cannot be sent. A record must fit a request of its
// own, uncompressed: that also keeps its envelope within Kinesis' 1 MiB
// record limit (the envelope adds the producer, region, time and encoding,
// far less than the 48,576 bytes between MaxBody and 1 MiB).
func encode(dst []byte, r *Record) ([]byte, string) {
	start := len(dst)
	switch {
	case !validID(r.ID):
		return dst, reasonID
	case r.PartitionKey != "" && !validPartitionKey(r.PartitionKey):
		return dst, reasonPK
	case r.Data != nil && r.Binary != nil:
		return dst, reasonBothData
	case r.Data == nil && r.Binary == nil:
		return dst, reasonNoData
	}
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, r.ID)
	if r.PartitionKey != "" {
		dst = append(dst, `,"partitionKey":`...)
		dst = appendString(dst, r.PartitionKey)
	}
	if r.Binary != nil {
		dst = append(dst, `,"dataBase64":"`...)
		n := base64.StdEncoding.EncodedLen(len(r.Binary))
		dst = append(dst, make([]byte, n)...)
		base64.StdEncoding.Encode(dst[len(dst)-n:], r.Binary)
		dst = append(dst, '"')
	} else {
		// JSON text must be UTF-8 (RFC 8259); encoding/json's scanner lets
		// invalid bytes inside strings pass, ingest does not.
		if !utf8.Valid(r.Data) {
			return dst[:start], reasonDataUTF8
		}
		dst = append(dst, `,"data":`...)
		at := len(dst)
		buf := bytes.NewBuffer(dst)
		if err := json.Compact(buf, r.Data); err != nil {
			return dst[:start], "invalid JSON data: " + err.Error()
		}
		dst = buf.Bytes()
		if string(dst[at:]) == "null" {
			return dst[:start], reasonNull
		}
	}
	dst = append(dst, '}')
	if n := len(dst) - start + emptyBody; n > MaxBody {
		return dst[:start], "record too large: a request holding it alone takes " + strconv.Itoa(n) + " bytes, the limit is " + strconv.Itoa(MaxBody)
	}
	return dst, ""
}

const hexDigits = "0123456789abcdef"

// appendString appends s (valid UTF-8) as a JSON string. Only what JSON
// requires is escaped: '<', '>' and '&' stay as they are (one byte each of
// the body limit, not six).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
