package client

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"
)

// ids makes ULIDs (github.com/ulid/spec): 48 bits of Unix milliseconds,
// then 80 random bits, in 26 characters of Crockford's base32. Within one
// millisecond the random part counts up from a fresh random start, so the
// ids one generator makes sort in the order it made them, also when the
// clock steps back (it keeps the latest millisecond it has seen).
type ids struct {
	mu   sync.Mutex
	ms   uint64 // the millisecond of the last id
	rhi  uint16 // the random part: rhi (16 bits), rlo (64 bits)
	rlo  uint64
	seed [10]byte
}

// maxMs is the largest time a ULID holds.
const maxMs = 1<<48 - 1

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// next returns a new id for time t.
func (g *ids) next(t time.Time) string {
	var ms uint64
	if m := t.UnixMilli(); m > 0 {
		ms = min(uint64(m), maxMs)
	}
	g.mu.Lock()
	if ms > g.ms {
		g.ms = ms
		g.fresh()
	} else {
		g.rlo++
		if g.rlo == 0 {
			g.rhi++
			if g.rhi == 0 && g.ms < maxMs {
				// 2^80 ids in one millisecond: the next one.
				g.ms++
				g.fresh()
			}
		}
	}
	hi := g.ms<<16 | uint64(g.rhi)
	lo := g.rlo
	g.mu.Unlock()

	var b [26]byte
	for i := range b {
		b[i] = crockford[bits5(hi, lo, uint(125-5*i))]
	}
	return string(b[:])
}

// fresh draws a new random part. crypto/rand, so that two producers (two
// processes with the same key) do not make the same ids; should it fail,
// math/rand/v2's generator, seeded by the runtime, is random enough.
func (g *ids) fresh() {
	if _, err := crand.Read(g.seed[:]); err != nil {
		binary.BigEndian.PutUint16(g.seed[:2], uint16(rand.Uint32()))
		binary.BigEndian.PutUint64(g.seed[2:], rand.Uint64())
	}
	g.rhi = binary.BigEndian.Uint16(g.seed[:2])
	g.rlo = binary.BigEndian.Uint64(g.seed[2:])
}

// bits5 is bits shift..shift+4 of the 128-bit number hi:lo.
func bits5(hi, lo uint64, shift uint) byte {
	var v uint64
	switch {
	case shift >= 64:
		v = hi >> (shift - 64)
	case shift == 0:
		v = lo
	default:
		v = lo>>shift | hi<<(64-shift)
	}
	return byte(v & 31)
}
