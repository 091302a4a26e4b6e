package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxDecodedBody caps a body sent with Content-Encoding: gzip once
// decompressed (413 beyond it): 5 MiB, what one Kinesis PutRecords call
// takes. MAX_RECORDS bounds a request's records, not its bytes; this does.
// At the cap a request holds the body, its envelopes (up to 4/3 of the data
// for binary records), the spill copy of failed envelopes and the SDK's
// base64 PutRecords request: about 35 MiB, well within ingest's 1024 MB for
// the one request an execution environment serves at a time. Its records
// are still written within one Kinesis budget (a shard takes 1 MB/s).
const MaxDecodedBody = 5 << 20

// Content codings the handler accepts (Content-Encoding).
const (
	EncodingGzip     = "gzip"
	EncodingIdentity = "identity"
)

var (
	errDecodedTooLarge = errors.New("decompressed body too large")
	errBadGzip         = errors.New("invalid gzip body")
)

// contentEncoding reads the Content-Encoding header: "" for none (or
// identity), EncodingGzip for gzip (or x-gzip, RFC 9110 8.4.1.3). ok is
// false for anything else, gzip twice included.
func contentEncoding(h http.Header) (coding string, ok bool) {
	for _, v := range h.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			switch strings.ToLower(strings.TrimSpace(c)) {
			case "", EncodingIdentity:
			case EncodingGzip, "x-gzip":
				if coding != "" {
					return "", false
				}
				coding = EncodingGzip
			default:
				return "", false
			}
		}
	}
	return coding, true
}

// gunzip decompresses body, refusing more than limit bytes of output
// (errDecodedTooLarge) without ever holding more than limit+1 of them:
// the output grows from a guess by doubling, capped at limit+1, and the
// reader is cut there. A gzip stream that is corrupt, truncated or followed
// by anything but another gzip member is errBadGzip.
func gunzip(body []byte, limit int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadGzip, err)
	}
	defer zr.Close()
	r := io.LimitReader(zr, int64(limit)+1)
	// JSON compresses 5-10 times; start there and let it double.
	out := make([]byte, 0, min(limit+1, max(8*len(body), 4<<10)))
	for {
		if len(out) == cap(out) {
			grown := make([]byte, len(out), min(limit+1, 2*cap(out)))
			copy(grown, out)
			out = grown
		}
		n, err := r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if len(out) > limit {
			return nil, errDecodedTooLarge
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBadGzip, err)
		}
	}
}
