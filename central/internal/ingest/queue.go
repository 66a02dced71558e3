package ingest

import (
	"context"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// The work that touches the database (entity syncs, a result's changed
// states, samples and events) does not run on the transport's delivery
// goroutine, which for the embedded broker is the publishing agent's own
// reader: a slow save there holds that agent's command results behind it
// and grows the reader's stack. The handlers check and decode, then queue;
// a few workers apply (ADR 0030).
//
// Each home belongs to one worker (by hash), so a home's work is applied in
// the order it arrived. While a home's work waits, a newer full sync
// replaces the syncs queued before it and a newer sample replaces the
// queued one: after a reconnect storm the database sees each home's latest
// state once, not every step to it.

// itemOverhead is what an item costs beyond its payload, so that a flood of
// tiny messages is bounded too.
const itemOverhead = 512

type itemKind uint8

const (
	itemSync   itemKind = iota
	itemResult          // a result to deliver once its changed states are stored
	itemTelemetry
	itemEvent
)

// item is one message waiting to be applied; exactly one field is set.
type item struct {
	kind   itemKind
	size   int
	queued time.Time
	sync   *homeplanev1.EntitySync
	result *homeplanev1.Result
	tel    *homeplanev1.Telemetry
	ev     *homeplanev1.InstanceEvent
}

// entities reports whether the item is registry work, which a worker stores
// together with the home's neighbouring registry work.
func (it *item) entities() bool {
	return it.kind == itemSync || it.kind == itemResult
}

// homeWork is one home's queued items, oldest first. A home is in its
// shard's map while it has items or a worker applies them, and on the ready
// list at most once.
type homeWork struct {
	items []*item
	tel   *item // the queued sample, replaced in place by a newer one
	ready bool  // on the ready list (not taken by the worker)
}

type shard struct {
	mu     sync.Mutex
	wake   *sync.Cond
	homes  map[string]*homeWork
	ready  []string
	closed bool
}

// queue bounds the bytes of everything queued or being applied.
type queue struct {
	shards   []*shard
	maxBytes int
	apply    func(homeID string, items []*item)
	observe  func(bytes int)
	workers  sync.WaitGroup

	mu    sync.Mutex
	bytes int
	freed chan struct{} // closed and replaced whenever bytes go down
}

func newQueue(workers, maxBytes int, apply func(string, []*item), observe func(int)) *queue {
	q := &queue{maxBytes: maxBytes, apply: apply, observe: observe, freed: make(chan struct{})}
	for range workers {
		s := &shard{homes: make(map[string]*homeWork)}
		s.wake = sync.NewCond(&s.mu)
		q.shards = append(q.shards, s)
		q.workers.Add(1)
		go q.work(s)
	}
	return q
}

func (q *queue) shardOf(homeID string) *shard {
	h := fnv.New32a()
	_, _ = h.Write([]byte(homeID))
	return q.shards[h.Sum32()%uint32(len(q.shards))]
}

// reserve takes n bytes of the bound, waiting up to wait for room. An item
// larger than the whole bound still goes in when the queue is empty. force
// takes the bytes whatever the bound: for what must not be lost and is
// small (a result someone waits for).
func (q *queue) reserve(n int, wait time.Duration, force bool) bool {
	var timer *time.Timer
	q.mu.Lock()
	for !force && q.bytes > 0 && q.bytes+n > q.maxBytes {
		if wait <= 0 {
			q.mu.Unlock()
			return false
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		freed := q.freed
		q.mu.Unlock()
		select {
		case <-freed:
		case <-timer.C:
			return false
		}
		q.mu.Lock()
	}
	q.bytes += n
	q.observe(q.bytes) // under mu: the gauge must not take an older value last
	q.mu.Unlock()
	return true
}

func (q *queue) release(n int) {
	q.mu.Lock()
	q.bytes -= n
	q.observe(q.bytes)
	close(q.freed)
	q.freed = make(chan struct{})
	q.mu.Unlock()
}

// push queues it for the home after what the home already has waiting.
// A full sync drops the syncs still waiting before it, a sample replaces the
// sample still waiting; it reports how many items it replaced. It returns
// false after close.
func (q *queue) push(homeID string, it *item) (replaced int, ok bool) {
	s := q.shardOf(homeID)
	var freed int
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, false
	}
	w := s.homes[homeID]
	if w == nil {
		w = &homeWork{ready: true}
		s.homes[homeID] = w
		s.ready = append(s.ready, homeID)
		s.wake.Signal()
	}
	if it.kind == itemResult && w.ready {
		// Someone waits for a result: its home goes before the homes
		// that only have syncs and samples waiting.
		s.toFront(homeID)
	}
	switch {
	case it.kind == itemTelemetry && w.tel != nil:
		old := *w.tel
		w.tel.tel, w.tel.size = it.tel, it.size
		freed, replaced = old.size, 1
		s.mu.Unlock()
		q.release(freed)
		return replaced, true
	case it.kind == itemSync && it.sync.GetFull():
		kept := w.items[:0]
		for _, o := range w.items {
			if o.kind == itemSync {
				freed += o.size
				replaced++
				continue
			}
			kept = append(kept, o)
		}
		clear(w.items[len(kept):])
		w.items = kept
	}
	w.items = append(w.items, it)
	if it.kind == itemTelemetry {
		w.tel = it
	}
	s.mu.Unlock()
	if freed > 0 {
		q.release(freed)
	}
	return replaced, true
}

// toFront moves the home, which is on the ready list, to its front, behind
// the homes moved there before it (results keep their order).
func (s *shard) toFront(homeID string) {
	i := slices.Index(s.ready, homeID)
	j := 0
	for j < i && s.homes[s.ready[j]].urgent() {
		j++
	}
	if i > j {
		copy(s.ready[j+1:i+1], s.ready[j:i])
		s.ready[j] = homeID
	}
}

// urgent reports whether a result waits among the home's items.
func (w *homeWork) urgent() bool {
	return slices.ContainsFunc(w.items, func(it *item) bool { return it.kind == itemResult })
}

// work applies its shard's homes in turn, each home's items in order.
func (q *queue) work(s *shard) {
	defer q.workers.Done()
	for {
		s.mu.Lock()
		for len(s.ready) == 0 && !s.closed {
			s.wake.Wait()
		}
		if len(s.ready) == 0 {
			s.mu.Unlock()
			return
		}
		homeID := s.ready[0]
		s.ready[0] = ""
		s.ready = s.ready[1:]
		w := s.homes[homeID]
		items := w.items
		w.items, w.tel, w.ready = nil, nil, false
		s.mu.Unlock()

		q.apply(homeID, items)
		size := 0
		for _, it := range items {
			size += it.size
		}
		q.release(size)

		s.mu.Lock()
		if len(w.items) > 0 {
			w.ready = true
			s.ready = append(s.ready, homeID)
			if w.urgent() {
				s.toFront(homeID)
			}
		} else {
			delete(s.homes, homeID)
		}
		s.mu.Unlock()
	}
}

// drain waits until nothing is queued or being applied.
func (q *queue) drain(ctx context.Context) error {
	for {
		q.mu.Lock()
		empty, freed := q.bytes == 0, q.freed
		q.mu.Unlock()
		if empty {
			return nil
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// close applies what is queued, then stops the workers; later pushes are
// refused.
func (q *queue) close() {
	for _, s := range q.shards {
		s.mu.Lock()
		s.closed = true
		s.wake.Broadcast()
		s.mu.Unlock()
	}
	q.workers.Wait()
}
