// Package client sends records to a twinstream pipeline's ingest API
// (POST /v1/records, README "Producer API") the way the API expects a
// producer to: in batches within its limits, with ids assigned on the
// client so that every retry is idempotent, retrying what can be retried
// and nothing else, and failing over between endpoints.
//
// It is its own module (github.com/twinstream/twinstream/client), standard
// library only, safe for concurrent use.
//
// # Two ways to send
//
// Send(ctx, records) sends a slice and returns when every record is
// acknowledged or retrying stopped; its Result says which records which
// answer acknowledged. Add(ctx, record) buffers one record and returns its
// id; the client sends the buffered records in batches (when a batch is
// full, FlushInterval after its first record, on Flush or Close), at most
// Concurrency batches at once, and Add blocks while BufferRecords records
// are waiting or in flight (back-pressure). Flush waits for what was added
// before it; Close flushes, waits and stops. What became of buffered
// records, Flush and Close say in sum and Hooks.Batch per batch.
//
// # Ids
//
// A record without an ID gets a ULID (26 characters, time-ordered, unique:
// 48 bits of milliseconds and 80 random bits from crypto/rand, counting up
// within a millisecond) before its first attempt, and keeps it in every
// retry: a record stored by an attempt whose answer was lost is then a copy
// under the same id, which consumers drop by (producer, id). Send writes the
// ids into the slice it is given, so sending the same slice again after an
// error is idempotent too.
//
// # Limits
//
// Each request is {"records":[...]} (application/json) and holds at most
// MaxRecords records (ingest's MAX_RECORDS, 500 by default: set it to the
// server's), at most MaxBody (1,000,000) bytes of body as sent, counted
// exactly on the encoded JSON, and only ids whose listing in ingest's answer
// fits its 1 MB response limit, computed as ingest computes it (967 ids of
// 256 '"' characters fill a request). A record whose id repeats one in the
// request goes to the next request. With Gzip a request holds up to 5 MiB
// (MaxDecodedBody) of JSON when it compresses to MaxBody, and is split when
// it does not. Records are checked before anything is sent (id, partition
// key, JSON data, a record alone fitting a request): an invalid record
// fails Send or Add with a *RejectError of Status 0.
//
// # Retries
//
// A network error, a timeout (AttemptTimeout), 429 and any 5xx are
// retried, with the same ids, after a wait of full jitter (a random time up
// to min(BackoffMax, BackoffBase * 2^(n-1))) and at least the answer's
// Retry-After (seconds or an HTTP date, capped by MaxRetryAfter) when the
// next attempt goes to the endpoint that said it. After a 503 that says
// which records were stored ("stored"; or "failedIds", "failed"), those are
// acknowledged and only the others are sent again; a 202 acknowledges all.
// Retrying stops at MaxElapsed after the request's first attempt, at
// MaxAttempts, when a Retry-After would end beyond the context's deadline,
// or when the context ends (an attempt in flight is cancelled): the records
// not acknowledged are then listed in Result.Unacked, and the error wraps
// ErrGaveUp or the context's error, and the last failure (*StatusError or
// the network error). A 4xx other than 429 is never retried: it is the
// caller's to fix, returned as *RejectError with the bad records the answer
// names (Index into the caller's records).
//
// # Failover
//
// Endpoints lists the URLs in order of preference: the accelerator's name
// (the global stack's ProducerUrl output), then the failover DNS name
// (FailoverUrl). All requests go to one endpoint, the active one. A network
// error or timeout moves the client to the next endpoint at once;
// FailoverAfter (2) answers 5xx in a row from the active endpoint move it
// too (the last endpoint moves back to the first); 429 and 4xx answers are
// not the endpoint's failure. Cooldown (1 minute) after leaving the first
// endpoint, the next attempt goes to it again, and the same rules apply.
// A retry moving to another endpoint does not wait for the previous
// endpoint's Retry-After. Hooks.Failover reports each move.
//
// # Hooks
//
// Hooks.Request (every attempt: endpoint, status, latency, attempt number,
// records, bytes, response header), Hooks.Retry, Hooks.Failover and
// Hooks.Batch (every batch's outcome) are optional; nil ones are skipped.
package client
