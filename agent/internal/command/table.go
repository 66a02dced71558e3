package command

import (
	"container/list"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// table is the agent's one record of the commands of this run: those in
// flight, whose duplicates wait for them, and the latest finished ones,
// whose duplicates get their result (the ledger answers older ones, and
// those of earlier runs). It is bounded: when full, the oldest finished
// entry goes first; running entries are evicted only when nothing else is
// left, which the uplink's concurrency bound makes practically impossible.
type table struct {
	mu    sync.Mutex
	max   int
	byID  map[string]*list.Element
	order *list.List // of *entry, oldest claim first
}

type entry struct {
	id      string
	done    chan struct{} // closed when result is set
	result  []byte        // the Result in wire form, set before done closes
	expires time.Time     // zero while running
}

func newTable(max int) *table {
	return &table{max: max, byID: map[string]*list.Element{}, order: list.New()}
}

// claim returns the entry for id. dup reports whether id was already known
// (running or finished and not expired); otherwise the caller now owns a
// fresh running entry and must finish it.
func (c *table) claim(id string, now time.Time) (e *entry, dup bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[id]; ok {
		e := el.Value.(*entry)
		if e.expires.IsZero() || now.Before(e.expires) {
			return e, true
		}
		c.remove(el)
	}
	c.sweep(now)
	e = &entry{id: id, done: make(chan struct{})}
	c.byID[id] = c.order.PushBack(e)
	return e, false
}

// finish stores the result of a claimed entry and wakes its waiters. It
// keeps the wire form: redeliveries are rare, and a Result's message tree
// (entity states with their attributes) holds several times the memory of
// its bytes for the whole life of the entry.
func (c *table) finish(e *entry, res *homeplanev1.Result, expires time.Time) {
	b, err := proto.Marshal(res)
	if err != nil {
		// Only invalid UTF-8 fails, and the executors build their strings
		// from decoded JSON; a redelivery then gets this instead of nothing.
		b, _ = proto.Marshal(fail(CodeInvalid, "result could not be encoded: "+err.Error()))
	}
	c.mu.Lock()
	e.result = b
	e.expires = expires
	c.mu.Unlock()
	close(e.done)
}

// sweep drops expired entries and, over capacity, the oldest finished ones.
func (c *table) sweep(now time.Time) {
	for el := c.order.Front(); el != nil; {
		next := el.Next()
		e := el.Value.(*entry)
		if !e.expires.IsZero() && !now.Before(e.expires) {
			c.remove(el)
		}
		el = next
	}
	for el := c.order.Front(); el != nil && c.order.Len() >= c.max; {
		next := el.Next()
		if !el.Value.(*entry).expires.IsZero() {
			c.remove(el)
		}
		el = next
	}
	for c.order.Len() >= c.max {
		c.remove(c.order.Front())
	}
}

func (c *table) remove(el *list.Element) {
	delete(c.byID, el.Value.(*entry).id)
	c.order.Remove(el)
}

// decoded returns the stored Result of a finished entry.
func (e *entry) decoded() *homeplanev1.Result {
	res := &homeplanev1.Result{}
	if err := proto.Unmarshal(e.result, res); err != nil {
		return fail(CodeInvalid, "stored result unreadable: "+err.Error())
	}
	return res
}

func (c *table) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
