// Package audit records what central did for each request: who asked what of
// which home, how it was understood, what was executed, what Home Assistant
// answered, and how long every stage took.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// Record is one audited request or security event.
type Record struct {
	// ID is the record's position in the hash chain, assigned by the store
	// when it commits; Write ignores it.
	ID        int64
	RequestID string
	Kind      string // one of the Kind constants
	UserID    string
	HomeID    string
	DeviceID  string
	Text      string
	Intent    string
	Slots     map[string]any
	Parser    string
	Executed  any // the service calls sent to the home
	Answer    any // what Home Assistant answered
	Outcome   string
	Error     string
	Time      time.Time
	ParseUS   int64
	ResolveUS int64
	ExecuteUS int64
	TotalUS   int64
	LLMTokens int
	// Action, Detail and ClientAddr describe a security event: what was
	// done, its particulars and where the request came from. Records
	// written before these fields existed keep a security event's action in
	// Intent and its details, with "client_addr", in Slots; Record.Security reads
	// either shape.
	Action     string
	Detail     map[string]any
	ClientAddr netip.Addr
	// PrevHash and Hash link the record into the tamper-evident chain; the
	// store fills them in under its chain lock (see Digest).
	PrevHash []byte
	Hash     []byte
	// Sum is ContentSum of the record, computed by Write in the caller's
	// goroutine so that the store's serialized commit only links it.
	Sum []byte
	// SlotsJSON and DetailJSON are Slots and Detail as Write encoded them,
	// the bytes a store would get from encoding the maps itself, so that
	// the serialized commit does not encode them again. Nil when the map
	// is, or when the record did not come through Write.
	SlotsJSON, DetailJSON json.RawMessage
}

// Store persists records.
type Store interface {
	// InsertRecords commits all records or none, chaining them after the
	// records already stored in the order given.
	InsertRecords(ctx context.Context, rs []Record) error
}

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("audit writer closed")

// Options tunes a Writer. Zero fields take the defaults shown.
type Options struct {
	MaxTextLen   int // 4096 bytes for the text and the error; longer ones are cut
	MaxJSONBytes int // 64 KiB per slots, executed or answer value
	// MaxQueue bounds the records waiting for a commit (8192); Write blocks
	// while the queue is full, which pushes back on callers instead of
	// growing memory without bound.
	MaxQueue int
	// MaxBatch bounds the records sharing one commit (2000).
	MaxBatch   int
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Writer writes audit records with group commit: each Write waits for its
// own record's commit, while the records of concurrent Writes share commits.
// One goroutine commits batch after batch, so while a commit is in flight the
// next batch gathers by itself, with no timer adding latency.
type Writer struct {
	store   Store
	opts    Options
	queue   chan *pending
	closing chan struct{}
	done    chan struct{}
	once    sync.Once
	m       writerMetrics
	// since is when the oldest record of the batch being committed, or of
	// the last one while more wait, was queued (unix nanoseconds); 0 when
	// nothing waits. See Backlog.
	since atomic.Int64
}

// pending is a record waiting for its commit.
type pending struct {
	r    Record
	done chan error
	// queued, began and ended are when the record was queued and its
	// commit began and ended (unix nanoseconds); the committer sets began
	// and ended before done, so Write reads them after.
	queued, began, ended int64
}

// NewWriter returns a Writer on store and starts its committer; Close stops it.
func NewWriter(store Store, opts Options) *Writer {
	if opts.MaxTextLen <= 0 {
		opts.MaxTextLen = 4096
	}
	if opts.MaxJSONBytes <= 0 {
		opts.MaxJSONBytes = 64 << 10
	}
	if opts.MaxQueue <= 0 {
		opts.MaxQueue = 8192
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 2000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{
		store:   store,
		opts:    opts,
		queue:   make(chan *pending, opts.MaxQueue),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		m:       newWriterMetrics(opts.Registerer),
	}
	go w.run()
	return w
}

// Write returns once r is committed. Oversized fields are cut to the limits
// rather than refused: the record of what happened matters more than its tail.
// When ctx ends first, Write returns its error, but the record may still be
// committed.
func (w *Writer) Write(ctx context.Context, r Record) error {
	if r.RequestID == "" || r.Kind == "" {
		return fmt.Errorf("audit: record needs a request id and a kind")
	}
	r, err := w.prepare(r)
	if err != nil {
		return err
	}
	p := &pending{r: r, done: make(chan error, 1), queued: time.Now().UnixNano()}
	select {
	case <-w.closing:
		return ErrClosed
	default:
	}
	select {
	case w.queue <- p:
	case <-w.closing:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("audit: queue full: %w", ctx.Err())
	}
	select {
	case err := <-p.done:
		if err != nil {
			return fmt.Errorf("audit: write: %w", err)
		}
		w.m.waited(p, time.Now().UnixNano())
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: wait for commit: %w", ctx.Err())
	}
}

// Close stops accepting records, commits those already queued and returns
// when the committer has stopped.
func (w *Writer) Close() error {
	w.once.Do(func() { close(w.closing) })
	<-w.done
	return nil
}

// Backlog is how long the records now being committed have waited: the
// age of the oldest one, 0 when the writer is idle. Every request that
// waits for its record waits at least this long, so it measures how far
// the writer, and the database behind it, are behind the requests.
func (w *Writer) Backlog() time.Duration {
	since := w.since.Load()
	if since == 0 {
		return 0
	}
	return max(time.Duration(time.Now().UnixNano()-since), 0)
}

// run commits queued records until Close, then drains the queue.
func (w *Writer) run() {
	defer close(w.done)
	batch := make([]*pending, 0, w.opts.MaxBatch)
	for {
		var first *pending
		select {
		case first = <-w.queue:
		case <-w.closing:
			// Writers that got into the queue before closing still get their commit.
			for {
				select {
				case p := <-w.queue:
					batch = append(batch[:0], p)
					batch = w.gather(batch)
					w.commit(batch)
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
		batch = w.gather(batch)
		w.commit(batch)
	}
}

// gather adds whatever else is queued right now, up to MaxBatch.
func (w *Writer) gather(batch []*pending) []*pending {
	for len(batch) < w.opts.MaxBatch {
		select {
		case p := <-w.queue:
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// commitTimeout bounds one commit so a hung database fails the waiting
// requests instead of holding them forever.
const commitTimeout = 10 * time.Second

func (w *Writer) commit(batch []*pending) {
	w.since.Store(batch[0].queued) // the queue is FIFO: the first is the oldest
	rs := make([]Record, len(batch))
	for i, p := range batch {
		rs[i] = p.r
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	start := time.Now()
	err := w.store.InsertRecords(ctx, rs)
	cancel()
	end := time.Now()
	w.m.observe(len(batch), end.Sub(start), len(w.queue), err)
	if err != nil {
		w.opts.Logger.Error("audit commit failed", "records", len(batch), "err", err)
	}
	if len(w.queue) == 0 {
		w.since.Store(0) // idle; a record queued since is picked up at once
	}
	for _, p := range batch {
		p.began, p.ended = start.UnixNano(), end.UnixNano()
		p.done <- err
	}
}

// prepare validates and bounds r the way it will be stored and hashed.
func (w *Writer) prepare(r Record) (Record, error) {
	r.ID, r.PrevHash, r.Hash, r.Sum, r.SlotsJSON, r.DetailJSON = 0, nil, nil, nil, nil, nil
	if r.Time.IsZero() {
		r.Time = w.opts.Now()
	}
	// PostgreSQL keeps microseconds; the hash must see what is stored.
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	const maxShort = 255
	for _, f := range []*string{&r.RequestID, &r.Kind, &r.UserID, &r.HomeID, &r.DeviceID, &r.Intent, &r.Parser, &r.Outcome, &r.Action} {
		*f = clip(*f, maxShort)
	}
	r.Text = clip(r.Text, w.opts.MaxTextLen)
	r.Error = clip(r.Error, w.opts.MaxTextLen)
	// PostgreSQL's inet has no zones.
	r.ClientAddr = r.ClientAddr.WithZone("")

	// Each JSON value is encoded once: that encoding is held to the size
	// limit, cleaned, and brought into canonical form, which is hashed and,
	// for executed and answer, stored as is.
	var js [4][]byte
	var err error
	if r.Slots, r.SlotsJSON, js[0], err = w.boundMap(r.Slots); err != nil {
		return r, fmt.Errorf("audit: slots: %w", err)
	}
	if r.Detail, r.DetailJSON, js[3], err = w.boundMap(r.Detail); err != nil {
		return r, fmt.Errorf("audit: detail: %w", err)
	}
	if js[1], err = w.bound(r.Executed); err != nil {
		return r, fmt.Errorf("audit: executed: %w", err)
	}
	if js[2], err = w.bound(r.Answer); err != nil {
		return r, fmt.Errorf("audit: answer: %w", err)
	}
	r.Executed, r.Answer = rawOrNil(js[1]), rawOrNil(js[2])
	r.Sum = contentSum(r, js)
	return r, nil
}

// boundMap is bound for a map-valued field, which stays a map: m itself,
// or what is left of it once bounded and cleaned. It returns that map, its
// encoding as stored, and its canonical encoding.
func (w *Writer) boundMap(m map[string]any) (map[string]any, json.RawMessage, []byte, error) {
	if m == nil {
		return nil, nil, nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(b) > w.opts.MaxJSONBytes {
		note := w.truncated(len(b))
		canon, err := CanonicalJSON(note)
		return note, canon, canon, err
	}
	clean, changed := cleanJSON(b)
	canon, err := CanonicalJSON(json.RawMessage(clean))
	if err != nil {
		return nil, nil, nil, err
	}
	if !changed {
		return m, b, canon, nil
	}
	// What is left is decoded from the cleaned encoding, whose own
	// encoding is its canonical form.
	var cleaned map[string]any
	if err := json.Unmarshal(clean, &cleaned); err != nil {
		return nil, nil, nil, err
	}
	return cleaned, canon, canon, nil
}

// bound encodes v once to check its size, replaces an oversized value by a
// note saying how large it was, and returns the canonical JSON of what is
// left, nil for nothing (nil, or JSON null).
func (w *Writer) bound(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	var b []byte
	// Encoding JSON compacts it and escapes <, > and & (six bytes at
	// most for one), so a value that short is within the limit whatever
	// the encoding.
	if raw, ok := v.(json.RawMessage); ok && raw != nil && len(raw) <= w.opts.MaxJSONBytes/6 {
		b = raw
	} else {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return nil, err
		}
		if len(b) > w.opts.MaxJSONBytes {
			return CanonicalJSON(w.truncated(len(b)))
		}
	}
	clean, _ := cleanJSON(b)
	return CanonicalJSON(json.RawMessage(clean))
}

// truncated is the note that stands for a value of n bytes over the limit.
func (w *Writer) truncated(n int) map[string]any {
	return map[string]any{"truncated": true, "bytes": n}
}

// cleanJSON replaces the escaped U+0000 in b, which PostgreSQL's jsonb
// cannot hold, and reports whether there was any; b itself when not.
func cleanJSON(b []byte) ([]byte, bool) {
	if !bytes.Contains(b, []byte(`\u0000`)) {
		return b, false
	}
	return bytes.ReplaceAll(b, []byte(`\u0000`), []byte(`\ufffd`)), true
}

// clip cuts s to at most n bytes on a character boundary and makes it valid UTF-8.
func clip(s string, n int) string {
	// PostgreSQL text cannot hold NUL either.
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func rawOrNil(b []byte) any {
	if b == nil {
		return nil
	}
	return json.RawMessage(b)
}
