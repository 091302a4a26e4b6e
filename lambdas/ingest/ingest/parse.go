package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
		if !json.Valid(l.text) {
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
	if !json.Valid(body) {
		return nil, nil, 0, &reject{Error: "invalid JSON body", Detail: syntaxError(body)}
	}
	notObject := &reject{Error: `body must be a JSON object {"records":[...]}`}
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, nil, 0, notObject
	}
	// Find the last "records" member (duplicates: the last wins, as in
	// encoding/json), then the spans of its elements.
	var recs []byte
	found := false
	err := eachMember(body[i:], func(key, val []byte) {
		if keyIs(key, "records") {
			recs, found = val, true
		}
	})
	if err != nil {
		return nil, nil, 0, notObject
	}
	if !found || string(recs) == "null" {
		return nil, nil, 0, &reject{Error: "no records"}
	}
	if len(recs) == 0 || recs[0] != '[' {
		return nil, nil, 0, &reject{Error: `records must be an array`}
	}
	var spans [][]byte
	for j := skipWS(recs, 1); j < len(recs) && recs[j] != ']'; {
		end := skipValue(recs, j)
		if end <= j {
			break // cannot happen with valid JSON; never loop forever
		}
		spans = append(spans, recs[j:end])
		j = skipWS(recs, end)
		if j < len(recs) && recs[j] == ',' {
			j = skipWS(recs, j+1)
		}
	}
	if rej := checkCount(len(spans), maxRecords); rej != nil {
		return nil, nil, 0, rej
	}
	ins := make([]input, len(spans))
	var bad []badRecord
	var ids seenIDs
	for k, s := range spans {
		in, reason := parseRecord(s)
		j, dup := ids.repeat(in.id, k)
		switch {
		case reason != "":
			bad = append(bad, badRecord{Index: k, Reason: reason})
			continue
		case dup:
			bad = append(bad, repeated(k, 0, j))
			continue
		}
		ins[k] = in
	}
	if len(bad) > 0 {
		return nil, bad, len(ins), nil
	}
	return ins, nil, len(ins), nil
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
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return input{}, reasonNotObject
	}
	var (
		in                input
		data, b64         []byte
		reason            string
		idSet, pkSet      bool
		idJSON, pkJSON    []byte
		haveData, haveB64 bool
	)
	err := eachMember(b[i:], func(key, val []byte) {
		// Later duplicates win, and null means absent, as with encoding/json
		// decoding into pointers.
		isNull := string(val) == "null"
		switch {
		case keyIs(key, "id"):
			idSet, idJSON = !isNull, val
		case keyIs(key, "partitionKey"):
			pkSet, pkJSON = !isNull, val
		case keyIs(key, "data"):
			haveData, data = !isNull, val
		case keyIs(key, "dataBase64"):
			haveB64, b64 = !isNull, val
		}
	})
	if err != nil {
		return input{}, reasonNotObject
	}
	// Invalid UTF-8 would silently become U+FFFD when decoded: reject it
	// rather than change the producer's id or key.
	if idSet {
		s, ok := jsonString(idJSON)
		switch {
		case !ok:
			return input{}, reasonIDType
		case !utf8.Valid(idJSON) || !record.ValidID(s):
			return input{}, reasonID
		}
		in.id = s
	}
	bad := input{id: in.id}
	if pkSet {
		s, ok := jsonString(pkJSON)
		switch {
		case !ok:
			reason = reasonPKType
		case !utf8.Valid(pkJSON) || !record.ValidPartitionKey(s):
			reason = reasonPK
		}
		in.pk = s
	}
	if reason != "" {
		return bad, reason
	}
	switch {
	case haveData && haveB64:
		return bad, reasonBothData
	case haveData:
		// encoding/json accepts invalid UTF-8 inside strings; JSON text
		// must be UTF-8 (RFC 8259) and record.Validate insists on it.
		if !utf8.Valid(data) {
			return bad, reasonDataUTF8
		}
		in.data = compact(data)
	case haveB64:
		s, ok := jsonString(b64)
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

// compact returns the JSON value v without insignificant whitespace. Most
// payloads are compact already; they are returned as they are.
func compact(v []byte) []byte {
	if !spaced(v) {
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

// spaced reports whether the JSON value v has whitespace outside strings.
func spaced(v []byte) bool {
	for i := 0; i < len(v); {
		switch v[i] {
		case '"':
			i = skipString(v, i)
			continue
		case ' ', '\t', '\r', '\n':
			return true
		}
		i++
	}
	return false
}

var errNotObject = errors.New("not a JSON object")

// eachMember calls f for each member of the JSON object that starts at obj[0]
// ('{'). obj must be valid JSON; the error covers malformed input anyway so
// that no input can make it read out of bounds.
func eachMember(obj []byte, f func(key, val []byte)) error {
	bad := errNotObject
	if len(obj) == 0 || obj[0] != '{' {
		return bad
	}
	i := skipWS(obj, 1)
	for i < len(obj) && obj[i] != '}' {
		if obj[i] != '"' {
			return bad
		}
		ks := i
		i = skipString(obj, i)
		key := obj[ks:i]
		i = skipWS(obj, i)
		if i >= len(obj) || obj[i] != ':' {
			return bad
		}
		i = skipWS(obj, i+1)
		if i >= len(obj) {
			return bad
		}
		vs := i
		i = skipValue(obj, i)
		f(key, obj[vs:i])
		i = skipWS(obj, i)
		if i < len(obj) && obj[i] == ',' {
			i = skipWS(obj, i+1)
		}
	}
	if i >= len(obj) {
		return bad
	}
	return nil
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
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i = skipString(b, i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth <= 0 {
				return i + 1
			}
		case ' ', '\t', '\r', '\n', ',', ':':
			if depth == 0 {
				return i
			}
		default:
			if depth == 0 {
				// A number or literal: runs to the next delimiter.
				for i < len(b) {
					switch b[i] {
					case ' ', '\t', '\r', '\n', ',', ':', '}', ']':
						return i
					}
					i++
				}
				return i
			}
		}
		i++
	}
	return i
}

// envelopes gives each input its envelope (id, producer, region, receive
// time, partition key) and encodes them into one buffer. It reports records
// whose envelope and partition key exceed what Kinesis takes.
func envelopes(ins []input, producer, region string, now time.Time, newID func() string) ([]record.Envelope, []stream.Entry, []badRecord) {
	size := 0
	for _, in := range ins {
		size += len(in.data) + len(in.id) + len(in.pk) + len(producer) + 172
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
