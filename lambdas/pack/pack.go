// Package pack is the packed Kinesis record format: many envelopes
// (package record) in one Kinesis record, compressed. Kinesis bills every
// record rounded up to 1 KiB and lets a shard take 1,000 records a second;
// an envelope of a 200-byte JSON record is about 390 bytes, so one envelope
// per Kinesis record pays for nearly three times what it sends, and a shard
// tops out at 1,000 envelopes a second. Ingest and replay write packed
// records (unless the pipeline turns packing off); package batch, and so
// every processor, reads packed and plain records alike. docs/packed-format.md
// holds the same specification for readers in other languages.
//
// # Format, version 1
//
// A packed record's data (the Kinesis data blob) is
//
//	offset  size  field
//	0       4     magic: the bytes 0x00 'T' 'S' 'P' ("\x00TSP")
//	4       1     version: 1
//	5       1     codec: 1 = Zstandard (RFC 8878)
//	6       ...   body, compressed with the codec
//
// A plain record (one envelope, the only format before packing) is JSON and
// starts with '{'; JSON never starts with 0x00, so the magic tells the two
// apart from the first byte on. A reader that meets another version or
// codec must not guess: it reports the record as unreadable (ErrVersion,
// ErrCodec) and keeps it.
//
// The body, once decompressed, is NDJSON: one envelope per line, each line
// the envelope's one-line JSON form (record.Envelope.Append) followed by
// '\n'. It holds at least one envelope and at most MaxBody bytes. The body
// is NDJSON rather than length-prefixed because that is what the spill and
// sink objects already hold: the same envelope lines, readable with
// standard tools (strip the 6-byte header, then zstd -d), with no length
// field to validate, and a damaged line costs only that line. Finding the
// line ends is one bytes.IndexByte per line, nothing next to decoding the
// JSON.
//
// The codec: Zstandard, one frame, with its content size and checksum, as
// written by EncodeAll of github.com/klauspost/compress/zstd at its fastest
// level. On 500 envelopes of 200-byte JSON records it makes 196 KB into
// 21 KB (43 bytes an envelope; gzip's default level: 46) at about 500 MB/s,
// and decompresses at over 1 GB/s (BenchmarkEncode, BenchmarkDecode): a
// better ratio than gzip and a faster decoder, which is what the processor
// pays for every record. Readers accept any valid Zstandard data whose
// decompressed size is at most MaxBody.
//
// # Limits
//
// MaxBody, 1 MiB, bounds the decompressed body: a packed record never
// carries more envelope bytes than one plain Kinesis record may hold, so a
// reader's memory per Kinesis record is bounded as before (a batch of n
// records unpacks to at most n MiB), and a decompression bomb fails with
// ErrTooLarge after about that much output. The packed record itself,
// with its partition key, is within Kinesis' 1 MiB record limit like any
// other. A writer that cannot fit an envelope into a packed record smaller
// than the plain one writes it plain.
//
// # Partition keys
//
// Partition keys are the writer's business, not the format's (see
// stream.Packer): envelopes with a partition key of their own are packed
// only with envelopes of the same key, under that key; the others together,
// under the first one's id. Every envelope keeps its own partitionKey.
package pack

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// The header of a packed record.
const (
	// Magic starts every packed record.
	Magic = "\x00TSP"
	// Version is the format version this package writes and reads.
	Version = 1
	// CodecZstd is the codec byte of Zstandard.
	CodecZstd = 1
	// HeaderLen is the length of magic, version and codec.
	HeaderLen = len(Magic) + 2
)

// MaxBody bounds the decompressed body of a packed record: 1 MiB.
const MaxBody = 1 << 20

// Errors of Decode. Each is wrapped; use errors.Is.
var (
	ErrNotPacked = errors.New("pack: not a packed record (no magic)")
	ErrVersion   = errors.New("pack: unknown format version")
	ErrCodec     = errors.New("pack: unknown codec")
	ErrTooLarge  = fmt.Errorf("pack: body larger than %d bytes", MaxBody)
	ErrCorrupt   = errors.New("pack: corrupt body")
	ErrEmpty     = errors.New("pack: body holds no envelope")
)

// IsPacked reports whether data starts with the magic, that is whether it is
// a packed record of some version (Decode says whether it can be read).
func IsPacked(data []byte) bool {
	return len(data) >= len(Magic) && string(data[:len(Magic)]) == Magic
}

// encoder and decoder are made on first use: an execution environment that
// never meets a packed record (a health function) pays nothing at start-up,
// and, reached only from the functions that use them, a binary that only
// writes (ingest) links no decoder and one that only reads no encoder.
func encoder() *zstd.Encoder {
	enc.once.Do(func() {
		var err error
		enc.e, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true),
			zstd.WithWindowSize(MaxBody), zstd.WithEncoderConcurrency(0))
		if err != nil {
			panic(fmt.Sprintf("pack: zstd encoder options: %v", err)) // constant options: a bug
		}
	})
	return enc.e
}

func decoder() *zstd.Decoder {
	dec.once.Do(func() {
		var err error
		dec.d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxBody),
			zstd.WithDecoderMaxWindow(MaxBody), zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			panic(fmt.Sprintf("pack: zstd decoder options: %v", err)) // constant options: a bug
		}
	})
	return dec.d
}

var (
	enc struct {
		once sync.Once
		e    *zstd.Encoder
	}
	dec struct {
		once sync.Once
		d    *zstd.Decoder
	}
)

// Encode appends to dst the packed record of body, which must be envelope
// lines each ending in '\n', 1 to MaxBody bytes. It does not check the lines
// are envelopes (the writer made them); it refuses a body a reader would
// refuse.
func Encode(dst, body []byte) ([]byte, error) {
	switch {
	case len(body) == 0:
		return dst, ErrEmpty
	case len(body) > MaxBody:
		return dst, ErrTooLarge
	case body[len(body)-1] != '\n':
		return dst, fmt.Errorf("%w: last line does not end in a newline", ErrCorrupt)
	}
	// Compress into a reused buffer, then copy: EncodeAll would otherwise
	// allocate the body's size for output a tenth of it.
	s := scratch.Get().(*[]byte)
	defer scratch.Put(s)
	*s = encoder().EncodeAll(body, (*s)[:0])
	dst = slices.Grow(dst, HeaderLen+len(*s))
	dst = append(dst, Magic...)
	dst = append(dst, Version, CodecZstd)
	return append(dst, *s...), nil
}

// scratch holds Encode's output buffers.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// Decode decompresses a packed record's body into buf[:0] and returns it.
// buf should have a capacity of MaxBody (see NewBuffer; a smaller one is
// replaced by a new one). Decoding stops with ErrTooLarge as soon as the
// output passes MaxBody, one Zstandard block (at most 128 KiB) later: a
// bomb costs about 1.5 MiB of memory however much it would expand to
// (TestDecodeBombAllocation bounds it at 2 MiB). It never panics.
func Decode(buf, data []byte) ([]byte, error) {
	if !IsPacked(data) {
		return buf[:0], ErrNotPacked
	}
	if len(data) < HeaderLen {
		return buf[:0], fmt.Errorf("%w: %d bytes, shorter than the header", ErrCorrupt, len(data))
	}
	if v := data[len(Magic)]; v != Version {
		return buf[:0], fmt.Errorf("%w %d (this reader knows %d)", ErrVersion, v, Version)
	}
	if c := data[len(Magic)+1]; c != CodecZstd {
		return buf[:0], fmt.Errorf("%w %d (version %d has %d, zstd)", ErrCodec, c, Version, CodecZstd)
	}
	if cap(buf) < MaxBody {
		buf = NewBuffer()
	}
	body, err := decoder().DecodeAll(data[HeaderLen:], buf[:0:MaxBody])
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrWindowSizeExceeded):
		return buf[:0], ErrTooLarge
	case err != nil:
		return buf[:0], fmt.Errorf("%w: %w", ErrCorrupt, err)
	case len(body) > MaxBody:
		return buf[:0], ErrTooLarge
	case len(body) == 0:
		return buf[:0], ErrEmpty
	}
	return body, nil
}

// NewBuffer returns a buffer for Decode.
func NewBuffer() []byte { return make([]byte, 0, MaxBody) }

// buffers are Unpack's.
var buffers = sync.Pool{New: func() any { b := NewBuffer(); return &b }}

// Lines yields the lines of a body, without their '\n': every line between
// newlines, and the text after the last one when there is any. An empty line
// is yielded too (it is not an envelope: the reader reports it).
func Lines(body []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(body) > 0 {
			i := bytes.IndexByte(body, '\n')
			if i < 0 {
				yield(body)
				return
			}
			if !yield(body[:i:i]) {
				return
			}
			body = body[i+1:]
		}
	}
}

// Unpack returns the envelopes a Kinesis record's data holds: data itself for
// a plain record, the lines of the body for a packed one (in a new buffer).
// It is for readers of a few records (tests, tools); package batch reads
// batches with a reused buffer.
func Unpack(data []byte) ([][]byte, error) {
	if !IsPacked(data) {
		return [][]byte{data}, nil
	}
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	body, err := Decode(*buf, data)
	if err != nil {
		return nil, err
	}
	body = bytes.Clone(body) // its own size, not the pooled MaxBody buffer
	var out [][]byte
	for l := range Lines(body) {
		out = append(out, l)
	}
	return out, nil
}
