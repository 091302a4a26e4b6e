// Package record defines the envelope that travels through Kinesis, the spill
// bucket and the sink bucket. Every stage reads and writes this one format, so a
// record keeps its id from the producer's request to the consumer's object.
package record

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
)

// Encodings of Envelope.Data.
const (
	// EncodingJSON: Data holds the producer's JSON value as it was sent.
	EncodingJSON = "json"
	// EncodingBase64: Data holds a JSON string with the standard base64 of bytes
	// that were not JSON.
	EncodingBase64 = "base64"
)

// Limits shared by every stage.
const (
	// MaxIDLen bounds a producer-chosen id (bytes).
	MaxIDLen = 256
	// MaxPartitionKeyLen is Kinesis' limit on a partition key (Unicode characters).
	MaxPartitionKeyLen = 256
	// MaxKinesisRecord is Kinesis' limit on data blob plus partition key.
	MaxKinesisRecord = 1 << 20
)

// Envelope is one record as stored. Its JSON form (see Append) is one line
// without a trailing newline, so envelopes can be joined into NDJSON.
type Envelope struct {
	// ID is the producer's id, or a generated ULID (time-ordered, unique).
	// A producer-chosen id is unique only within its Producer: a record is
	// identified by (Producer, ID) (see Identity), and consumers de-duplicate
	// by that pair, since delivery is at least once.
	ID string `json:"id"`
	// Producer is the id of the API key that sent the record (the "id" of
	// its entry in the API-key secret): the namespace of ID, so two teams'
	// "order-1" are two records. Empty for health canaries and for envelopes
	// written before producers were recorded.
	Producer string `json:"producer,omitempty"`
	// Region is the AWS region whose ingest function received the record.
	Region string `json:"region"`
	// ReceivedAt is when ingest received the record (UTC, millisecond precision).
	ReceivedAt time.Time `json:"receivedAt"`
	// PartitionKey is the Kinesis partition key; the record id unless the producer chose one.
	PartitionKey string `json:"partitionKey"`
	// Encoding says how to read Data: EncodingJSON or EncodingBase64.
	Encoding string `json:"encoding"`
	// Data is the payload: a JSON value, or a JSON string holding base64.
	Data json.RawMessage `json:"data"`
	// Canary marks a health-probe record; the processor drops it.
	Canary bool `json:"canary,omitempty"`
}

// Errors returned by Validate and Decode.
var (
	ErrID           = errors.New("id must be 1-256 bytes of printable UTF-8")
	ErrProducer     = errors.New("producer must be empty or 1-256 bytes of printable UTF-8")
	ErrPartitionKey = errors.New("partitionKey must be 1-256 characters of UTF-8")
	ErrEncoding     = errors.New("encoding must be json or base64")
	ErrData         = errors.New("data is missing or not valid for its encoding")

	// errReceivedAt: Append writes ReceivedAt as RFC 3339 in UTC, whose years
	// are 0000-9999; another year would give a line Decode cannot read.
	errReceivedAt = errors.New("receivedAt must be in the years 0000-9999 UTC")
)

// ValidID reports whether id may be used as a record id: 1-256 bytes of valid
// UTF-8 without control characters (it is written into object keys and logs).
// C1 controls (U+0080-U+009F) count too: terminals act on some of them.
func ValidID(id string) bool {
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

// ValidPartitionKey reports whether k is a partition key Kinesis accepts.
func ValidPartitionKey(k string) bool {
	return k != "" && utf8.ValidString(k) && utf8.RuneCountInString(k) <= MaxPartitionKeyLen
}

// Validate checks the fields every stage relies on.
func (e *Envelope) Validate() error {
	return e.validate(true)
}

// validate is Validate; Decode skips checking JSON data that json.Unmarshal
// (which validates its whole input first) or decodeAppended has just checked.
func (e *Envelope) validate(checkJSON bool) error {
	if !ValidID(e.ID) {
		return ErrID
	}
	if e.Producer != "" && !ValidID(e.Producer) {
		return ErrProducer
	}
	if !ValidPartitionKey(e.PartitionKey) {
		return ErrPartitionKey
	}
	if y := e.ReceivedAt.UTC().Year(); y < 0 || y > 9999 {
		return errReceivedAt
	}
	switch e.Encoding {
	case EncodingJSON:
		// JSON text must be UTF-8 (RFC 8259 8.1); encoding/json accepts invalid
		// bytes inside strings, which consumers in other languages reject.
		if len(e.Data) == 0 || (checkJSON && !json.Valid(e.Data)) || !utf8.Valid(e.Data) {
			return ErrData
		}
	case EncodingBase64:
		var s string
		if err := json.Unmarshal(e.Data, &s); err != nil {
			return ErrData
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return ErrData
		}
	default:
		return ErrEncoding
	}
	return nil
}

// Identity names one producer record: its Producer and its ID. Two envelopes
// with the same Identity are copies of one record when their payloads are
// equal too (SamePayload); delivery is at least once, so copies happen.
type Identity struct {
	Producer, ID string
}

// Identity returns the envelope's (Producer, ID).
func (e *Envelope) Identity() Identity { return Identity{Producer: e.Producer, ID: e.ID} }

// SamePayload reports whether e and o carry the same data in the same
// encoding. Envelopes from Decode hold Data in one compact form, so equal
// payloads have equal bytes.
func (e *Envelope) SamePayload(o *Envelope) bool {
	return e.Encoding == o.Encoding && bytes.Equal(e.Data, o.Data)
}

// Duplicate reports whether o is a copy of e: the same producer's record with
// the same id and the same payload. The same id with another payload is a
// different record (a producer reusing an id), never dropped as a copy.
func (e *Envelope) Duplicate(o *Envelope) bool {
	return e.Identity() == o.Identity() && e.SamePayload(o)
}

// Payload returns the producer's bytes: the JSON value, or the decoded base64.
func (e *Envelope) Payload() ([]byte, error) {
	switch e.Encoding {
	case EncodingJSON:
		return e.Data, nil
	case EncodingBase64:
		var s string
		if err := json.Unmarshal(e.Data, &s); err != nil {
			return nil, fmt.Errorf("decode base64 data: %w", err)
		}
		return base64.StdEncoding.DecodeString(s)
	}
	return nil, ErrEncoding
}

// SetBase64 stores b as base64 data.
func (e *Envelope) SetBase64(b []byte) {
	buf := make([]byte, 0, base64.StdEncoding.EncodedLen(len(b))+2)
	buf = append(buf, '"')
	buf = base64.StdEncoding.AppendEncode(buf, b)
	buf = append(buf, '"')
	e.Encoding = EncodingBase64
	e.Data = buf
}

// Decode parses one envelope and validates it. The result is in the form
// Append writes: Data compact, ReceivedAt in UTC truncated to milliseconds, so
// Decode(Append(e)) equals e. What Append wrote is read in one pass; any
// other JSON form of an envelope is read too.
func Decode(b []byte) (Envelope, error) {
	if e, ok := decodeAppended(b); ok {
		if err := e.validate(false); err != nil {
			return Envelope{}, fmt.Errorf("decode envelope: %w", err)
		}
		return e, nil
	}
	return decodeJSON(b)
}

// decodeJSON is Decode through encoding/json: any JSON form of an envelope.
func decodeJSON(b []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return Envelope{}, fmt.Errorf("decode envelope: %w", err)
	}
	if err := e.validate(false); err != nil {
		return Envelope{}, fmt.Errorf("decode envelope: %w", err)
	}
	if hasSpace(e.Data) {
		// Whitespace, newlines above all, would break the one-line form.
		var buf bytes.Buffer
		if err := json.Compact(&buf, e.Data); err != nil {
			return Envelope{}, fmt.Errorf("decode envelope: %w", err)
		}
		e.Data = buf.Bytes()
	}
	t := e.ReceivedAt.UTC()
	e.ReceivedAt = t.Add(-time.Duration(t.Nanosecond() % int(time.Millisecond)))
	return e, nil
}

// hasSpace reports whether the JSON text b has whitespace outside strings.
func hasSpace(b []byte) bool {
	inStr, esc := false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr:
			if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return true
		}
	}
	return false
}

// Append appends the envelope's JSON form (one line, no newline) to dst.
// It is hand-written because ingest and the processor run it for every record;
// Data must already be compact, valid JSON (Validate checks it).
func (e *Envelope) Append(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, e.ID)
	if e.Producer != "" {
		dst = append(dst, `,"producer":`...)
		dst = appendString(dst, e.Producer)
	}
	dst = append(dst, `,"region":`...)
	dst = appendString(dst, e.Region)
	dst = append(dst, `,"receivedAt":"`...)
	dst = appendTime(dst, e.ReceivedAt)
	dst = append(dst, `","partitionKey":`...)
	dst = appendString(dst, e.PartitionKey)
	dst = append(dst, `,"encoding":`...)
	dst = appendString(dst, e.Encoding)
	dst = append(dst, `,"data":`...)
	dst = appendData(dst, e.Data)
	if e.Canary {
		dst = append(dst, `,"canary":true`...)
	}
	return append(dst, '}')
}

// timeLayout is how Append writes receivedAt.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// appendTime appends t in UTC as timeLayout does; by hand, because the
// layout interpreter was a third of Append's time.
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(dst, timeLayout)
	}
	h, mi, s := t.Clock()
	ms := t.Nanosecond() / int(time.Millisecond)
	return append(dst,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// appendData appends JSON data, keeping the line one line even when the
// caller broke Append's contract: empty data becomes null, and CR/LF (which
// valid JSON holds only as whitespace between tokens) are dropped.
func appendData(dst, data []byte) []byte {
	if len(data) == 0 {
		return append(dst, "null"...)
	}
	if bytes.IndexByte(data, '\n') < 0 && bytes.IndexByte(data, '\r') < 0 {
		return append(dst, data...) // as it should be: two vector scans
	}
	for {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			return append(dst, data...)
		}
		dst = append(dst, data[:i]...)
		data = data[i+1:]
	}
}

// MarshalJSON makes encoding/json use the same form as Append.
func (e Envelope) MarshalJSON() ([]byte, error) {
	if len(e.Data) == 0 {
		return nil, ErrData
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, e.Data); err != nil {
		return nil, fmt.Errorf("marshal envelope: %w", err)
	}
	e.Data = buf.Bytes()
	return e.Append(nil), nil
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// (without HTML escaping). Invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
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
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = strconv.AppendInt(dst, int64(r&0xf), 16)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// IDs makes time-ordered unique ids (ULIDs). It is safe for concurrent use.
// The ids of one generator strictly increase in the order New returns them,
// even when t goes back (a clock step, or goroutines racing to the lock).
type IDs struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
	last    uint64 // millisecond of the last id
}

// NewIDs returns a generator seeded from crypto/rand, so ids from different
// Lambda instances and regions do not collide.
func NewIDs() *IDs {
	return &IDs{entropy: ulid.Monotonic(rand.Reader, 0)}
}

// New returns a new id for time t.
func (g *IDs) New(t time.Time) string {
	// ULIDs hold milliseconds since 1970 in 48 bits; clamp times outside
	// that range instead of failing (ulid.New errors, MustNew panics).
	var ms uint64
	if t.UnixMilli() > 0 {
		ms = min(uint64(t.UnixMilli()), ulid.MaxTime())
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	ms = max(ms, g.last)
	g.last = ms
	id, err := ulid.New(ms, g.entropy)
	if err != nil {
		// Monotonic entropy overflows only after ~2^48 ids in one millisecond:
		// move to the next one, where the entropy starts afresh. Only at
		// ulid.MaxTime can that fail too; then plain randomness (crypto/rand
		// does not fail, and ms is in range) rather than an error.
		g.last = min(ms+1, ulid.MaxTime())
		if id, err = ulid.New(g.last, g.entropy); err != nil {
			id, _ = ulid.New(g.last, rand.Reader)
		}
	}
	return id.String()
}
