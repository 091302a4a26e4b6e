package client

import (
	"bytes"
	"compress/gzip"
	"sync"
	"unicode/utf8"
)

// A request body is {"records":[r1,r2,...]} (application/json).
const (
	bodyOpen  = `{"records":[`
	bodyClose = `]}`
	emptyBody = len(bodyOpen) + len(bodyClose)
)

// item is one encoded record on its way.
type item struct {
	id  string
	enc []byte // the record's JSON object, as the body carries it
	idx int    // its index in the caller's records (Send) or in its batch (Add)
	own bool   // the caller chose the id (generated ids never repeat)
}

// answerAllowance is ingest's allowance (lambdas/ingest/ingest/limits.go)
// for what its answer holds besides ids and indices.
const answerAllowance = 1024

// answerCost is what record i of a request with this id adds to ingest's
// bound on its answer (answerSize in lambdas/ingest/ingest/limits.go): the
// id escaped twice (in the answer body, which is itself a JSON string in
// the response JSON) and a comma, and its index in "failed" and a comma.
// Ingest refuses with 400 a request whose bound exceeds MaxResponse; the
// client keeps every request within it. Keep in step with limits.go.
func answerCost(id string, i int) int {
	return quotedSize(id) + 1 + digits(i) + 1
}

// quotedSize is ingest's quotedSize: the bytes s takes as a JSON string
// escaped twice, counting '<', '>' and '&' as if HTML were escaped.
func quotedSize(s string) int {
	n := 4
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				n += 4
			case c == '<' || c == '>' || c == '&':
				n += 6
			case c < 0x20:
				n += 7
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			n += 7
		default:
			n += size
		}
		i += size
	}
	return n
}

func digits(i int) int {
	n := 1
	for ; i >= 10; i /= 10 {
		n++
	}
	return n
}

// limits are what one request may hold.
type limits struct {
	records int // ingest's MAX_RECORDS
	body    int // body bytes before compression: MaxBody, or MaxDecodedBody with gzip
}

// batcher collects items into one request within the limits.
type batcher struct {
	lim    limits
	items  []item
	body   int // body bytes with these items
	answer int // ingest's answer bound for these ids
	ids    map[string]struct{}
}

func newBatcher(lim limits) *batcher {
	return &batcher{lim: lim, body: emptyBody, answer: answerAllowance}
}

// fits reports whether it can join the request. An empty request takes any
// item: encode has checked that a record fits a request of its own, and one
// id of 256 bytes is far below the answer limit.
func (b *batcher) fits(it *item) bool {
	n := len(b.items)
	if n == 0 {
		return true
	}
	if n >= b.lim.records || b.body+1+len(it.enc) > b.lim.body || b.answer+answerCost(it.id, n) > MaxResponse {
		return false
	}
	if it.own {
		// Ingest refuses a request that repeats an id; the copy goes into
		// the next request instead.
		if _, dup := b.ids[it.id]; dup {
			return false
		}
	}
	return true
}

// add puts it into the request (fits said it may).
func (b *batcher) add(it item) {
	if len(b.items) > 0 {
		b.body++
	}
	b.body += len(it.enc)
	b.answer += answerCost(it.id, len(b.items))
	if it.own {
		if b.ids == nil {
			b.ids = make(map[string]struct{})
		}
		b.ids[it.id] = struct{}{}
	}
	b.items = append(b.items, it)
}

// full reports whether no item can join any more.
func (b *batcher) full() bool { return len(b.items) >= b.lim.records }

// take returns the request's items and empties the batcher.
func (b *batcher) take() []item {
	items := b.items
	b.items, b.body, b.answer = nil, emptyBody, answerAllowance
	clear(b.ids)
	return items
}

// split cuts items, in order, into requests within the limits.
func split(items []item, lim limits) [][]item {
	b := newBatcher(lim)
	var out [][]item
	for _, it := range items {
		if !b.fits(&it) {
			out = append(out, b.take())
		}
		b.add(it)
	}
	if len(b.items) > 0 {
		out = append(out, b.take())
	}
	return out
}

// appendBody appends the JSON body holding items.
func appendBody(dst []byte, items []item) []byte {
	dst = append(dst, bodyOpen...)
	for i := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, items[i].enc...)
	}
	return append(dst, bodyClose...)
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error
	return w
}}

// gzipBody compresses body. BestSpeed: the body limit is what matters, and
// JSON compresses well at any level.
func gzipBody(body []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(body)/4 + 64)
	w := gzipWriters.Get().(*gzip.Writer)
	w.Reset(&buf)
	_, _ = w.Write(body) // a bytes.Buffer does not fail
	_ = w.Close()
	gzipWriters.Put(w)
	return buf.Bytes()
}

// wire is a request body as sent.
type wire struct {
	body []byte
	gzip bool
}

// build makes the body for items. With compress, a body is gzipped when that
// fits MaxBody, else sent as it is when that fits; ok is false when neither
// fits (the caller splits the request).
func build(items []item, compress bool) (w wire, ok bool) {
	size := emptyBody + len(items) - 1
	for i := range items {
		size += len(items[i].enc)
	}
	body := appendBody(make([]byte, 0, size), items)
	if compress {
		if z := gzipBody(body); len(z) <= MaxBody && len(z) < len(body) {
			return wire{body: z, gzip: true}, true
		}
	}
	return wire{body: body}, len(body) <= MaxBody
}
