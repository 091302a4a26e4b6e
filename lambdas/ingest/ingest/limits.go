package ingest

import (
	"unicode/utf8"

	"github.com/twinstream/twinstream/lambdas/record"
)

// The ALB's limits for a Lambda target (Elastic Load Balancing docs, "Use
// Lambda functions as targets of an Application Load Balancer"): "The
// maximum size of the request body that you can send to a Lambda function
// is 1 MB" and "The maximum size of the response JSON that the Lambda
// function can send is 1 MB". Both are read as 1,000,000 bytes, the smaller
// reading of "1 MB": what ingest accepts or answers within them passes the
// ALB under either reading.
const (
	// MaxBody is the largest request body accepted (as sent, before any
	// Content-Encoding is undone): 413 beyond it.
	MaxBody = 1_000_000
	// MaxResponse bounds the response JSON the function returns to the
	// ALB: the answer body as a JSON string inside albhttp.Response's JSON.
	MaxResponse = 1_000_000
)

// answerAllowance covers what the response JSON of a 202 or 503 holds
// besides the ids and indices: status code and description, headers, the
// body's fixed fields and error message, the runtime's newline. (Measured:
// under 400 bytes; the tests check this bound against the real JSON.)
const answerAllowance = 1024

// answerSize bounds the size of the response JSON of the largest answer a
// request with these envelopes can get once writing starts: the 503 that
// lists every record as failed (its index in failed, its id in failedIds).
// A 202 lists the same ids without the indices; a 503 with some records
// stored lists fewer indices.
func answerSize(envs []record.Envelope) int {
	n := answerAllowance
	for i := range envs {
		n += quotedSize(envs[i].ID) + 1 // and a comma
		n += digits(i) + 1
	}
	return n
}

// quotedSize bounds the bytes s takes as a JSON string in an answer body
// that is itself a JSON string in the response JSON: escaped twice. Per
// character: '"' and '\' become \" and \\, then \\\" and \\\\ (4 bytes);
// '<', '>' and '&' stay as they are in the body but become \u003c (6) if
// the runtime escapes HTML (aws-lambda-go does not by default; counted as
// if it did); U+2028, U+2029, control characters and invalid UTF-8 become
// \u2028 and the like, then \\u2028 (7); anything else is copied. The
// quotes around s become \" (2 bytes each).
func quotedSize(s string) int {
	n := 4
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			n += int(asciiSize[c])
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

// digits is the length of i (>= 0) in decimal.
// asciiSize is quotedSize's count for each ASCII character.
var asciiSize = func() (t [utf8.RuneSelf]uint8) {
	for c := range t {
		switch {
		case c == '"' || c == '\\':
			t[c] = 4
		case c == '<' || c == '>' || c == '&':
			t[c] = 6
		case c < 0x20:
			t[c] = 7
		default:
			t[c] = 1
		}
	}
	return t
}()

func digits(i int) int {
	n := 1
	for ; i >= 10; i /= 10 {
		n++
	}
	return n
}
