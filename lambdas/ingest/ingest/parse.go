package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/twinstream/twinstream/lambdas/record"
	"github.com/twinstream/twinstream/lambdas/stream"
)

// Media types the handler accepts.
const (
	TypeJSON   = "application/json"
	TypeNDJSON = "application/x-ndjson"
	TypeBinary = "application/octet-stream"
)

// Headers naming the record of an application/octet-stream body.
const (
	HeaderRecordID     = "X-Record-Id"
	HeaderPartitionKey = "X-Partition-Key"
)

// input is one producer record after parsing, before it gets an envelope.
type input struct {
	id, pk string
	// data is a compact JSON value, or the raw bytes when binary.
	data   []byte
	binary bool
}

// badRecord names one invalid record in a 400 answer.
type badRecord struct {
	Index int `json:"index"`
	// Line is the 1-based line of an NDJSON record.
	Line   int    `json:"line,omitempty"`
	Reason string `json:"reason"`
	// DuplicateOf is the index of the earlier record with the same id.
	DuplicateOf *int `json:"duplicateOf,omitempty"`
}

// repeated is the bad record for record i whose id is record j's. The
// reason names indices only: echoing a 256-byte id into every reason would
// let a 400 answer outgrow the ALB's response limit.
func repeated(i, line, j int) badRecord {
	return badRecord{Index: i, Line: line, Reason: "id repeats record " + strconv.Itoa(j) + "'s id", DuplicateOf: &j}
}

// seenIDs holds the producer ids of one request. A request may not repeat an
// id: a record is its producer and id, so two records sharing one would be
// one record to every consumer, and one of them lost.
type seenIDs map[string]int

// repeat returns the index of an earlier record with id; otherwise it
// remembers that record i has id. Empty ids (generated later) never repeat.
func (s *seenIDs) repeat(id string, i int) (int, bool) {
	if id == "" {
		return 0, false
	}
	if *s == nil {
		*s = make(seenIDs)
	}
	if j, ok := (*s)[id]; ok {
		return j, true
	}
	(*s)[id] = i
	return 0, false
}

// reject is a parse outcome that is not a list of bad records: the body as a
// whole is wrong. It becomes a 400 answer with these fields.
type reject struct {
	Error  string `json:"error"`
	Detail string `json:"detail,omitempty"`
	Count  int    `json:"count,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// Reasons given for bad records. They are fixed strings (plus at most a JSON
// syntax message) so a 400 answer stays small even when every record is bad.
const (
	reasonNotObject  = "record must be a JSON object"
	reasonIDType     = "id must be a string"
	reasonID         = "invalid id: want 1-256 bytes of printable UTF-8"
	reasonPKType     = "partitionKey must be a string"
	reasonPK         = "invalid partitionKey: want 1-256 characters of UTF-8"
	reasonNoData     = "missing data: give data (any JSON value but null) or dataBase64"
	reasonDataUTF8   = "data must be valid UTF-8 JSON"
	reasonBothData   = "give only one of data and dataBase64"
	reasonBase64     = "dataBase64 must be a string of standard base64"
	reasonEmptyBody  = "missing data: the body is empty"
	reasonInvalidHdr = "invalid " + HeaderRecordID + " header: want 1-256 bytes of printable UTF-8"
	reasonInvalidPKH = "invalid " + HeaderPartitionKey + " header: want 1-256 characters of UTF-8"
)

// parse reads the records of a body of the given media type (already checked
// to be one of the accepted types). It returns either the records, the bad
// records (every one of them), or a reject for the body as a whole; n is the
// number of records the body holds (0 with a reject).
func parse(body []byte, mediaType string, h http.Header, maxRecords int) (ins []input, bad []badRecord, n int, rej *reject) {
	switch mediaType {
	case TypeBinary:
		return parseBinary(body, h)
	case TypeNDJSON:
		return parseNDJSON(body, maxRecords)
	default:
		return parseJSON(body, maxRecords)
	}
}

func parseBinary(body []byte, h http.Header) ([]input, []badRecord, int, *reject) {
	in := input{data: body, binary: true, id: h.Get(HeaderRecordID), pk: h.Get(HeaderPartitionKey)}
	reason := ""
	switch {
	case len(body) == 0:
		reason = reasonEmptyBody
	case in.id != "" && !record.ValidID(in.id):
		reason = reasonInvalidHdr
	case in.pk != "" && !record.ValidPartitionKey(in.pk):
		reason = reasonInvalidPKH
	}
	if reason != "" {
		return nil, []badRecord{{Index: 0, Reason: reason}}, 1, nil
	}
	return []input{in}, nil, 1, nil
}

func parseNDJSON(body []byte, maxRecords int) ([]input, []badRecord, int, *reject) {
	type line struct {
		no   int
		text []byte
	}
	var lines []line
	no := 0
	for rest := body; len(rest) > 0; {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte{'\n'})
		no++
		// Only JSON's whitespace: a line of other spaces is not blank.
		if l = bytes.Trim(l, " \t\r\n"); len(l) > 0 {
			lines = append(lines, line{no, l})
		}
	}
	if rej := checkCount(len(lines), maxRecords); rej != nil {
		return nil, nil, 0, rej
	}
	ins := make([]input, len(lines))
	var bad []badRecord
	var ids seenIDs
	for i, l := range lines {
		if !validJSON(l.text) {
			bad = append(bad, badRecord{Index: i, Line: l.no, Reason: "invalid JSON: " + syntaxError(l.text)})
			continue
		}
		in, reason := parseRecord(l.text)
		j, dup := ids.repeat(in.id, i)
		switch {
		case reason != "":
			bad = append(bad, badRecord{Index: i, Line: l.no, Reason: reason})
			continue
		case dup:
			bad = append(bad, repeated(i, l.no, j))
			continue
		}
		ins[i] = in
	}
	if len(bad) > 0 {
		return nil, bad, len(ins), nil
	}
	return ins, nil, len(ins), nil
}

func parseJSON(body []byte, maxRecords int) ([]input, []badRecord, int, *reject) {
	if !validJSON(body) {
		return nil, nil, 0, &reject{Error: "invalid JSON body", Detail: syntaxError(body)}
	}
	notObject := &reject{Error: `body must be a JSON object {"records":[...]}`}
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, nil, 0, notObject
	}
	// The last "records" member counts (duplicates: the last wins, as in
	// encoding/json); its elements are parsed as they are walked.
	var recs *records
	_, err := walkMembers(body, i, func(key []byte, v int) int {
		if !keyIs(key, "records") {
			return skipValue(body, v)
		}
		r, end := readRecords(body, v, maxRecords)
		recs = &r
		return end
	})
	switch {
	case err != nil:
		return nil, nil, 0, notObject
	case recs == nil || recs.null:
		return nil, nil, 0, &reject{Error: "no records"}
	case recs.notArray:
		return nil, nil, 0, &reject{Error: `records must be an array`}
	}
	if rej := checkCount(recs.n, maxRecords); rej != nil {
		return nil, nil, 0, rej
	}
	if len(recs.bad) > 0 {
		return nil, recs.bad, recs.n, nil
	}
	return recs.ins, nil, recs.n, nil
}

// records is what the value of a "records" member holds.
type records struct {
	null, notArray bool
	// n counts the elements; ins has one input per element (the zero
	// input for a bad one) as long as n is within the limit.
	n   int
	ins []input
	bad []badRecord
}

// readRecords reads the value of a "records" member, which starts at b[v],
// and returns the index just past it. Elements beyond maxRecords are only
// counted.
func readRecords(b []byte, v, maxRecords int) (records, int) {
	var r records
	switch {
	case bytes.HasPrefix(b[v:], []byte("null")):
		r.null = true
		return r, v + 4
	case b[v] != '[':
		r.notArray = true
		return r, skipValue(b, v)
	}
	// Sized for records of a few hundred bytes, so most requests never
	// grow it.
	r.ins = make([]input, 0, min(maxRecords, (len(b)-v)/128+1))
	var ids seenIDs
	j := skipWS(b, v+1)
	for j < len(b) && b[j] != ']' {
		k := r.n
		r.n++
		var end int
		if r.n > maxRecords {
			end = skipValue(b, j)
		} else {
			var in input
			var reason string
			in, reason, end = parseRecordAt(b, j)
			first, dup := ids.repeat(in.id, k)
			switch {
			case reason != "":
				r.bad = append(r.bad, badRecord{Index: k, Reason: reason})
				in = input{}
			case dup:
				r.bad = append(r.bad, repeated(k, 0, first))
				in = input{}
			}
			r.ins = append(r.ins, in)
		}
		if end <= j {
			break // cannot happen with valid JSON; never loop forever
		}
		j = skipWS(b, end)
		if j < len(b) && b[j] == ',' {
			j = skipWS(b, j+1)
		}
	}
	return r, min(j+1, len(b))
}

func checkCount(n, max int) *reject {
	if n == 0 {
		return &reject{Error: "no records"}
	}
	if n > max {
		return &reject{Error: fmt.Sprintf("too many records: %d, the limit is %d", n, max), Count: n, Limit: max}
	}
	return nil
}

// syntaxError describes why b is not valid JSON (only called when it is not).
func syntaxError(b []byte) string {
	var v json.RawMessage
	if err := json.Unmarshal(b, &v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return se.Error() + " at byte " + strconv.FormatInt(se.Offset, 10)
		}
		return err.Error()
	}
	return "invalid JSON"
}

// parseRecord reads one record object. b is valid JSON. It returns a reason
// when the record is not acceptable; the input then holds only the id, when
// that much is valid (to find ids a request repeats).
func parseRecord(b []byte) (input, string) {
	in, reason, _ := parseRecordAt(b, skipWS(b, 0))
	return in, reason
}

// parseRecordAt is parseRecord for the value that starts at b[i], and
// returns the index just past that value too.
func parseRecordAt(b []byte, i int) (input, string, int) {
	if i >= len(b) || b[i] != '{' {
		return input{}, reasonNotObject, skipValue(b, i)
	}
	var f recordFields
	end, err := walkMembers(b, i, func(key []byte, v int) int {
		end, spaced := skipValueSpaced(b, v)
		val := b[v:end]
		// Later duplicates win, and null means absent, as with encoding/json
		// decoding into pointers.
		if string(val) == "null" {
			val = nil
		}
		switch {
		case keyIs(key, "id"):
			f.id = val
		case keyIs(key, "partitionKey"):
			f.pk = val
		case keyIs(key, "data"):
			f.data, f.spaced = val, spaced
		case keyIs(key, "dataBase64"):
			f.b64 = val
		}
		return end
	})
	if err != nil {
		return input{}, reasonNotObject, end
	}
	in, reason := f.input()
	return in, reason, end
}

// recordFields are the members of a record object that parse reads: each
// one's JSON value, nil when absent or null.
type recordFields struct {
	id, pk, data, b64 []byte
	// spaced: data has whitespace outside its strings.
	spaced bool
}

// input checks the fields and makes the record's input, or says why not.
func (f recordFields) input() (input, string) {
	var in input
	// Invalid UTF-8 would silently become U+FFFD when decoded: reject it
	// rather than change the producer's id or key.
	if f.id != nil {
		s, ok := jsonString(f.id)
		switch {
		case !ok:
			return input{}, reasonIDType
		case !utf8.Valid(f.id) || !record.ValidID(s):
			return input{}, reasonID
		}
		in.id = s
	}
	bad := input{id: in.id}
	if f.pk != nil {
		s, ok := jsonString(f.pk)
		switch {
		case !ok:
			return bad, reasonPKType
		case !utf8.Valid(f.pk) || !record.ValidPartitionKey(s):
			return bad, reasonPK
		}
		in.pk = s
	}
	switch {
	case f.data != nil && f.b64 != nil:
		return bad, reasonBothData
	case f.data != nil:
		// encoding/json accepts invalid UTF-8 inside strings; JSON text
		// must be UTF-8 (RFC 8259) and record.Validate insists on it.
		if !utf8.Valid(f.data) {
			return bad, reasonDataUTF8
		}
		in.data = compact(f.data, f.spaced)
	case f.b64 != nil:
		s, ok := jsonString(f.b64)
		if !ok {
			return bad, reasonBase64
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return bad, reasonBase64
		}
		in.data, in.binary = raw, true
	default:
		return bad, reasonNoData
	}
	return in, ""
}

// compact returns the JSON value v without insignificant whitespace, which
// it has when spaced (skipValueSpaced found it). Most payloads are compact
// already; they are returned as they are.
func compact(v []byte, spaced bool) []byte {
	if !spaced {
		return v
	}
	var buf bytes.Buffer
	buf.Grow(len(v))
	if err := json.Compact(&buf, v); err != nil {
		// v was validated; keep it rather than lose data.
		return v
	}
	return buf.Bytes()
}

var errNotObject = errors.New("not a JSON object")

// walkMembers walks the members of the JSON object that starts at b[i]
// ('{'): f reads the value of each, which starts at b[v], and returns the
// index just past it. walkMembers returns the index just past the object.
// b must be valid JSON; the error covers malformed input anyway so that no
// input can make it read out of bounds.
func walkMembers(b []byte, i int, f func(key []byte, v int) int) (int, error) {
	bad := errNotObject
	if i >= len(b) || b[i] != '{' {
		return i, bad
	}
	i = skipWS(b, i+1)
	for i < len(b) && b[i] != '}' {
		if b[i] != '"' {
			return i, bad
		}
		ks := i
		i = skipString(b, i)
		key := b[ks:i]
		i = skipWS(b, i)
		if i >= len(b) || b[i] != ':' {
			return i, bad
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return i, bad
		}
		i = skipWS(b, max(f(key, i), i))
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
		}
	}
	if i >= len(b) {
		return i, bad
	}
	return i + 1, nil
}

// keyIs reports whether the JSON string key (with its quotes) equals name.
// Keys match exactly (encoding/json would also match other letter cases).
func keyIs(key []byte, name string) bool {
	if len(key) == len(name)+2 && string(key[1:len(key)-1]) == name {
		return true
	}
	if bytes.IndexByte(key, '\\') < 0 {
		return false
	}
	s, ok := jsonString(key)
	return ok && s == name
}

// jsonString decodes v if it is a JSON string.
func jsonString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string starting at b[i] ('"').
// It jumps from quote to quote; a quote ends the string unless an odd run of
// backslashes precedes it.
func skipString(b []byte, i int) int {
	start := i + 1
	i = start
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		i += j
		k := i
		for k > start && b[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			return i + 1
		}
		i++
	}
	return len(b)
}

// skipValue returns the index just past the JSON value starting at b[i].
// It tracks nesting with a counter, not recursion, so deep input cannot
// exhaust the stack.
func skipValue(b []byte, i int) int {
	end, _ := skipValueSpaced(b, i)
	return end
}

// skipValueSpaced is skipValue, and also reports whether the value has
// whitespace outside its strings (which compact removes).
func skipValueSpaced(b []byte, i int) (end int, spaced bool) {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i = skipString(b, i)
			if depth == 0 {
				return i, spaced
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth <= 0 {
				return i + 1, spaced
			}
		case ' ', '\t', '\r', '\n':
			if depth == 0 {
				return i, spaced
			}
			spaced = true
		case ',', ':':
			if depth == 0 {
				return i, spaced
			}
		default:
			if depth == 0 {
				// A number or literal: runs to the next delimiter.
				for i < len(b) {
					switch b[i] {
					case ' ', '\t', '\r', '\n', ',', ':', '}', ']':
						return i, spaced
					}
					i++
				}
				return i, spaced
			}
		}
		i++
	}
	return i, spaced
}

// ulidSize is the length of a generated id (record.IDs: a ULID).
const ulidSize = 26

// envelopes gives each input its envelope (id, producer, region, receive
// time, partition key) and encodes them into one buffer. It reports records
// whose envelope and partition key exceed what Kinesis takes.
func envelopes(ins []input, producer, region string, now time.Time, newID func() string) ([]record.Envelope, []stream.Entry, []badRecord) {
	// The buffer is sized once: growing it would copy every envelope.
	size := 0
	for _, in := range ins {
		id, pk := len(in.id), len(in.pk)
		if id == 0 {
			id = ulidSize // generated
		}
		if pk == 0 {
			pk = id // the id
		}
		size += len(in.data) + id + pk + len(producer) + len(region) + 172
		if in.binary {
			size += len(in.data)/3 + 4
		}
	}
	buf := make([]byte, 0, size)
	ends := make([]int, len(ins))
	envs := make([]record.Envelope, len(ins))
	var bad []badRecord
	for i, in := range ins {
		e := &envs[i]
		e.ID = in.id
		if e.ID == "" {
			e.ID = newID()
		}
		e.Producer, e.Region, e.ReceivedAt, e.PartitionKey = producer, region, now, in.pk
		if e.PartitionKey == "" {
			e.PartitionKey = e.ID
		}
		if in.binary {
			e.SetBase64(in.data)
		} else {
			e.Encoding, e.Data = record.EncodingJSON, in.data
		}
		start := len(buf)
		buf = e.Append(buf)
		if n := len(buf) - start + len(e.PartitionKey); n > record.MaxKinesisRecord {
			bad = append(bad, badRecord{Index: i, Reason: fmt.Sprintf("record too large: %d bytes with its envelope and partition key, the limit is %d", n, record.MaxKinesisRecord)})
		}
		ends[i] = len(buf)
	}
	if len(bad) > 0 {
		return nil, nil, bad
	}
	entries := make([]stream.Entry, len(ins))
	start := 0
	for i := range ins {
		entries[i] = stream.Entry{Data: buf[start:ends[i]:ends[i]], PartitionKey: envs[i].PartitionKey}
		start = ends[i]
	}
	return envs, entries, nil
}

// maxDepth is encoding/json's nesting limit: json.Valid refuses a value
// nested deeper than this.
const maxDepth = 10000

// validJSON reports whether b is one JSON value, with json.Valid's answer
// for every input (whitespace around it, no UTF-8 check inside strings, the
// same nesting limit), several times faster: json.Valid's scanner calls a
// function per byte, this one skips string bytes eight at a time. A body is
// mostly strings.
func validJSON(b []byte) bool {
	var stack []byte // '{' or '[' per open container
	i := skipWS(b, 0)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if len(stack) == maxDepth {
				return false
			}
			stack = append(stack, c)
			i = skipWS(b, i+1)
			if i < len(b) && b[i] == c+2 { // '}' or ']'
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				if i = validKey(b, i); i < 0 {
					return false
				}
			}
			continue
		case c == '"':
			if i = validString(b, i); i < 0 {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			if i = validNumber(b, i); i < 0 {
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
		// After a value: the end, a comma and the next member or element,
		// or the end of containers.
		for {
			i = skipWS(b, i)
			if len(stack) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			open := stack[len(stack)-1]
			if b[i] == open+2 {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return false
			}
			i = skipWS(b, i+1)
			if open == '{' {
				if i = validKey(b, i); i < 0 {
					return false
				}
			}
			break
		}
	}
}

// validKey checks a member's key and colon at b[i] and returns the index of
// its value (after whitespace), or -1.
func validKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = validString(b, i); i < 0 {
		return -1
	}
	if i = skipWS(b, i); i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipWS(b, i+1)
}

// Masks for testing eight bytes at a time.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// validString checks the string at b[i] ('"') as json.Valid does (any byte
// but a control character, escapes \" \\ \/ \b \f \n \r \t \uXXXX) and
// returns the index just past it, or -1.
func validString(b []byte, i int) int {
	for i++; i < len(b); {
		if i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			q, bs := x^('"'*ones), x^('\\'*ones)
			// The high bit of each byte < 0x20, '"' or '\'; the lowest
			// one set marks the first such byte (a borrow only carries
			// into the bytes after the one that starts it).
			m := ((x-0x20*ones)&^x | (q-ones)&^q | (bs-ones)&^bs) & highs
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return -1
				}
				for _, h := range b[i+2 : i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return -1
					}
				}
				i += 6
			default:
				return -1
			}
		case c < 0x20:
			return -1
		default:
			i++
		}
	}
	return -1
}

// validNumber checks the number at b[i] (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?)
// and returns the index just past it, or -1. What follows is the caller's.
func validNumber(b []byte, i int) int {
	if b[i] == '-' {
		if i++; i >= len(b) {
			return -1
		}
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// skipDigits returns the index of the first non-digit at or after i.
func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
