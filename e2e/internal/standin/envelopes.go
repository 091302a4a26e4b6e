package standin

import (
	"fmt"

	"github.com/twinstream/twinstream/lambdas/pack"
	"github.com/twinstream/twinstream/lambdas/record"
)

// Envelopes decodes the envelopes the records hold, in order: one for a
// plain record, each line of a packed one (package pack), as the processor
// reads them.
func Envelopes(recs []Record) ([]record.Envelope, error) {
	var out []record.Envelope
	for _, r := range recs {
		lines, err := pack.Unpack(r.Data)
		if err != nil {
			return nil, fmt.Errorf("stream record %s: %w", r.SequenceNumber, err)
		}
		for i, l := range lines {
			e, err := record.Decode(l)
			if err != nil {
				return nil, fmt.Errorf("stream record %s, envelope %d: %w", r.SequenceNumber, i+1, err)
			}
			out = append(out, e)
		}
	}
	return out, nil
}
