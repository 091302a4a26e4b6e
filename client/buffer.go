package client

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// buffer holds the records given to Add until their batch is sent.
type buffer struct {
	c *Client

	// slots bounds the records buffered or being sent: Add takes one per
	// record, the end of its batch gives it back.
	slots chan struct{}
	// closing is closed by Close: Adds waiting for a slot give up.
	closing chan struct{}
	// life is the context of buffered sends; Close cancels it when its own
	// context ends first.
	life   context.Context
	cancel context.CancelFunc

	mu          sync.Mutex
	cur         *batcher
	recs        []Record // the records of cur, in order
	first       time.Time
	gen         int // counts the batches cut, so a timer knows its batch
	timer       *time.Timer
	closed      bool
	queue       chan *pending // batches cut, for the senders
	started     bool
	outstanding map[*pending]struct{}
	senders     sync.WaitGroup
}

// pending is a batch of buffered records cut for sending.
type pending struct {
	items []item
	recs  []Record
	first time.Time // when its first record was added
	done  chan struct{}
	// after done: what became of it
	unacked int
	err     error
}

func (b *buffer) init(c *Client) {
	b.c = c
	b.slots = make(chan struct{}, c.cfg.BufferRecords)
	b.closing = make(chan struct{})
	b.life, b.cancel = context.WithCancel(context.Background())
	b.cur = newBatcher(c.lim)
	b.outstanding = map[*pending]struct{}{}
	// Every batch holds a slot per record, so no more batches than slots
	// can be waiting: sending to queue never blocks.
	b.queue = make(chan *pending, c.cfg.BufferRecords)
}

// Add buffers r for sending and returns its id (r.ID, or the one the client
// assigned). The batch holding it is sent when it is full (MaxRecords, or
// the body or answer limits), FlushInterval after its first record, or on
// Flush or Close. Add blocks while BufferRecords records are buffered or
// being sent, until there is room or ctx ends (ctx.Err()).
//
// An invalid record is refused at once (*RejectError with Status 0). What
// becomes of the others, Flush and Close say in sum and Hooks.Batch per
// batch. Records may be sent in another order than added when Concurrency
// is above 1. After Close, Add returns ErrClosed.
func (c *Client) Add(ctx context.Context, r Record) (string, error) {
	b := &c.buf
	own := r.ID != ""
	if !own {
		r.ID = c.ids.next(c.now())
	}
	enc, reason := encode(nil, &r)
	if reason != "" {
		return r.ID, &RejectError{Message: "invalid record, not buffered", Records: []BadRecord{{ID: r.ID, Reason: reason, DuplicateOf: -1}}}
	}
	select {
	case <-b.closing:
		return r.ID, ErrClosed
	default:
	}
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return r.ID, ctx.Err()
	case <-b.closing:
		return r.ID, ErrClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		<-b.slots
		return r.ID, ErrClosed
	}
	b.start()
	it := item{id: r.ID, enc: enc, own: own}
	if !b.cur.fits(&it) {
		b.cut()
	}
	it.idx = len(b.cur.items)
	b.cur.add(it)
	b.recs = append(b.recs, r)
	if len(b.cur.items) == 1 {
		b.first = c.now()
		gen := b.gen
		b.timer = time.AfterFunc(c.cfg.FlushInterval, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.gen == gen && !b.closed {
				b.cut()
			}
		})
	}
	if b.cur.full() {
		b.cut()
	}
	return r.ID, nil
}

// start starts the senders on the first Add. b.mu is held.
func (b *buffer) start() {
	if b.started {
		return
	}
	b.started = true
	for range b.c.cfg.Concurrency {
		b.senders.Add(1)
		go func() {
			defer b.senders.Done()
			for p := range b.queue {
				b.send(p)
			}
		}()
	}
}

// cut hands the current batch to the senders. b.mu is held.
func (b *buffer) cut() {
	if len(b.cur.items) == 0 {
		return
	}
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	p := &pending{items: b.cur.take(), recs: b.recs, first: b.first, done: make(chan struct{})}
	b.recs = nil
	b.gen++
	b.outstanding[p] = struct{}{}
	b.queue <- p
}

// send delivers p and reports its outcome.
func (b *buffer) send(p *pending) {
	c := b.c
	res := Result{IDs: make([]string, len(p.recs))}
	for i := range p.recs {
		res.IDs[i] = p.recs[i].ID
	}
	st := &state{res: &res}
	for _, req := range split(p.items, c.lim) {
		if st.stop != nil {
			st.unack(req)
			continue
		}
		c.deliver(b.life, req, st)
	}
	err := st.finish()
	p.unacked, p.err = len(res.Unacked), err
	// The hook first: what Flush and Close wait for includes it.
	c.hooks.batch(BatchEvent{Records: p.recs, Result: res, Err: err, Elapsed: c.now().Sub(p.first), Buffered: true})
	for range p.items {
		<-b.slots
	}
	b.mu.Lock()
	delete(b.outstanding, p)
	b.mu.Unlock()
	close(p.done)
}

// Flush sends the buffered records now and waits until every record added
// before it is acknowledged or given up (and Hooks.Batch has been called
// for its batch), or ctx ends. It returns nil when all of them were
// acknowledged; otherwise an error counting those that were not, wrapping
// the first batch's error (Hooks.Batch names them).
func (c *Client) Flush(ctx context.Context) error {
	b := &c.buf
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.cut()
	wait := b.snapshot()
	b.mu.Unlock()
	return sumUp(ctx, wait)
}

// Close sends the buffered records and waits for every batch, then stops
// the senders. When ctx ends first, the attempts in flight are cancelled
// and their records given up. It returns what Flush would. Add and Flush
// fail with ErrClosed afterwards; Send still works.
func (c *Client) Close(ctx context.Context) error {
	b := &c.buf
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.closed = true
	close(b.closing)
	b.cut()
	wait := b.snapshot()
	close(b.queue)
	b.mu.Unlock()

	done := make(chan struct{})
	go func() {
		b.senders.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		b.cancel()
		<-done
	}
	b.cancel()
	return sumUp(context.Background(), wait)
}

// snapshot lists the batches not done yet. b.mu is held.
func (b *buffer) snapshot() []*pending {
	wait := make([]*pending, 0, len(b.outstanding))
	for p := range b.outstanding {
		wait = append(wait, p)
	}
	return wait
}

// sumUp waits for the batches and sums up what became of them.
func sumUp(ctx context.Context, wait []*pending) error {
	var first error
	unacked, total := 0, 0
	for _, p := range wait {
		select {
		case <-p.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		total += len(p.items)
		unacked += p.unacked
		if p.err != nil && first == nil {
			first = p.err
		}
	}
	if first == nil {
		return nil
	}
	return fmt.Errorf("client: %d of %d records not acknowledged: %w", unacked, total, first)
}
