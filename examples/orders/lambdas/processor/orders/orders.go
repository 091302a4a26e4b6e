// Package orders is the orders team's processor logic: it reads each Kinesis
// batch of the pipeline through package batch (which decodes the envelopes
// and drops canaries and in-batch copies), checks that each record is an
// Order, and stores the batch as two S3 objects in the pipeline's sink
// bucket: the accepted orders, and the rejected records with the reason.
package orders

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/twinstream/twinstream/lambdas/batch"
	"github.com/twinstream/twinstream/lambdas/env"
	"github.com/twinstream/twinstream/lambdas/record"
)

// PutObjectAPI is the part of the S3 client the store uses.
type PutObjectAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

const (
	// putTimeout bounds each PutObject.
	putTimeout = 10 * time.Second
	// margin is kept free before the invocation's deadline to report what
	// is not stored: a timeout would be a function error, which retries the
	// whole batch.
	margin = time.Second
)

// Store writes batches of orders to S3.
type Store struct {
	Client PutObjectAPI
	Bucket string
	// Prefix starts every key written.
	Prefix string
	// Currencies are the accepted currency codes.
	Currencies map[string]bool
}

// FromEnv configures a Store from the processor's environment: SINK_BUCKET
// (set by the pipeline), ORDERS_PREFIX (default "orders"), CURRENCIES
// (required: comma-separated ISO 4217 codes), and the AWS variables Lambda
// sets.
func FromEnv(ctx context.Context, r *env.Reader) (*Store, error) {
	s := &Store{
		Bucket:     r.String("SINK_BUCKET"),
		Prefix:     strings.Trim(r.StringOr("ORDERS_PREFIX", "orders"), "/"),
		Currencies: map[string]bool{},
	}
	for c := range strings.SplitSeq(r.String("CURRENCIES"), ",") {
		if c = strings.TrimSpace(c); c != "" {
			s.Currencies[c] = true
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	for c := range s.Currencies {
		if len(c) != 3 || strings.ToUpper(c) != c || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return nil, fmt.Errorf("environment variable CURRENCIES: %q is not an ISO 4217 code (3 capital letters)", c)
		}
	}
	cfg, err := r.AWS(ctx)
	if err != nil {
		return nil, err
	}
	s.Client = s3.NewFromConfig(cfg)
	return s, nil
}

// Accepted is a line of an accepted object: the order with what identifies
// its record. Readers de-duplicate by Producer and ID (delivery is at least
// once).
type Accepted struct {
	Producer   string    `json:"producer"`
	ID         string    `json:"id"`
	ReceivedAt time.Time `json:"receivedAt"`
	Region     string    `json:"region"`
	Order      Order     `json:"order"`
}

// Rejected is a line of a rejected object: a record that is not an order,
// with why, and what finds it in the stream.
type Rejected struct {
	SequenceNumber string `json:"sequenceNumber"`
	Producer       string `json:"producer,omitempty"`
	ID             string `json:"id,omitempty"`
	Reason         string `json:"reason"`
	// Data is the envelope's data as the producer sent it; Record the whole
	// Kinesis record (base64) when it was not an envelope at all.
	Data   json.RawMessage `json:"data,omitempty"`
	Record []byte          `json:"record,omitempty"`
}

// object is one S3 object of a batch; first is the index of the first
// Kinesis record it holds.
type object struct {
	kind  string
	first int
	body  bytes.Buffer
	n     int
}

func (o *object) add(index int, line any) error {
	if o.n == 0 || index < o.first {
		o.first = index
	}
	o.n++
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("encode %s line: %w", o.kind, err)
	}
	o.body.Write(b)
	return o.body.WriteByte('\n')
}

// Handle stores a batch and returns the sequence numbers to report as
// BatchItemFailures; err says why they failed.
//
// Accepted orders go to <prefix>/accepted/<shard>/<first>-<last>.jsonl and
// rejected records to <prefix>/rejected/<shard>/<first>-<last>.jsonl, first
// and last being the batch's first and last sequence numbers: a retried
// batch rewrites the same objects, and a retry from a later record writes
// new ones. Rejected records are stored, not reported: no retry would make
// them orders.
func (s *Store) Handle(ctx context.Context, recs []batch.Record) (failed []string, err error) {
	if len(recs) == 0 {
		return nil, nil
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-margin))
		defer cancel()
	}
	b := batch.Read(recs)
	accepted, rejected := &object{kind: "accepted"}, &object{kind: "rejected"}
	for _, it := range b.Items {
		e := &it.Envelope
		var o Order
		err := ErrNotJSON
		if e.Encoding == record.EncodingJSON {
			o, err = parseOrder(e.Data, s.Currencies)
		}
		if err != nil {
			err = rejected.add(it.Index, Rejected{SequenceNumber: it.SequenceNumber, Producer: e.Producer, ID: e.ID, Reason: err.Error(), Data: e.Data})
		} else {
			err = accepted.add(it.Index, Accepted{Producer: e.Producer, ID: e.ID, ReceivedAt: e.ReceivedAt, Region: e.Region, Order: o})
		}
		if err != nil {
			return b.FailedFrom(0), err
		}
	}
	for _, bad := range b.Bad {
		if err := rejected.add(bad.Index, Rejected{SequenceNumber: recs[bad.Index].SequenceNumber, Reason: bad.Err.Error(), Record: bad.Data}); err != nil {
			return b.FailedFrom(0), err
		}
	}
	// In the order of their first records: when a put fails, every record
	// before that object's first is in an object already stored (or was
	// skipped), so Lambda retries from there.
	objs := slices.DeleteFunc([]*object{accepted, rejected}, func(o *object) bool { return o.n == 0 })
	slices.SortFunc(objs, func(a, b *object) int { return a.first - b.first })
	for _, o := range objs {
		if err := s.put(ctx, s.key(o.kind, recs), o.body.Bytes()); err != nil {
			return b.FailedFrom(o.first), err
		}
	}
	slog.InfoContext(ctx, "orders: batch stored", "records", len(recs), "accepted", accepted.n,
		"rejected", rejected.n, "canaries", b.Canaries, "copies", b.Duplicates, "conflicts", b.Conflicts)
	return nil, nil
}

func (s *Store) key(kind string, recs []batch.Record) string {
	first, last := recs[0], recs[len(recs)-1]
	return fmt.Sprintf("%s/%s/%s/%s-%s.jsonl", s.Prefix, kind, first.ShardID, first.SequenceNumber, last.SequenceNumber)
}

func (s *Store) put(ctx context.Context, key string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, putTimeout)
	defer cancel()
	_, err := s.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.Bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("application/x-ndjson"),
	})
	if err != nil {
		return fmt.Errorf("write s3://%s/%s: %w", s.Bucket, key, err)
	}
	return nil
}

// setString lists a set's members sorted, for messages.
func setString(set map[string]bool) string {
	var out []string
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}
