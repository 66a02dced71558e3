// Package outbox keeps what the agent publishes while central is
// unreachable: messages are stored on disk, bounded (the oldest are dropped
// first and the drops counted), delivered in order once the uplink is back,
// and survive an agent restart.
package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/agent/internal/atomicfile"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
	"github.com/homeplane/homeplane/protocol/vocab"
)

// Publisher is the uplink: it returns an error wrapping Options.Offline
// while there is no connection.
type Publisher interface {
	Publish(ctx context.Context, kind topic.Kind, msg proto.Message) error
}

// Options tunes an Outbox.
type Options struct {
	Logger *slog.Logger
	// Offline is the error that means "keep it for later" (uplink.ErrDisconnected).
	// Other errors are returned to the caller and nothing is stored.
	Offline error
	// MaxMessages and MaxBytes bound what is kept (10000, 16 MiB).
	MaxMessages int
	MaxBytes    int64
	// RetryInterval is how often delivery is retried while messages wait (2s).
	RetryInterval time.Duration
}

// Outbox is a Publisher that stores what cannot be sent now.
type Outbox struct {
	dir  string
	next Publisher
	opts Options
	log  *slog.Logger

	send sync.Mutex // one delivery at a time keeps the order

	mu      sync.Mutex
	queue   []entry // oldest first
	bytes   int64
	seq     uint64
	dropped uint64 // not yet reported
	total   uint64 // dropped since open
	kick    chan struct{}
}

type entry struct {
	seq  uint64
	kind topic.Kind
	size int64
}

const droppedFile = "dropped"

// maxMessageBytes is the largest message kept: the broker takes no packet
// past 1 MiB.
const maxMessageBytes = 1 << 20

// maxSeq bounds the sequence numbers read back, so that the numbers of new
// messages never wrap past them.
const maxSeq = 1 << 62

// maxDropped bounds a drop count read back.
const maxDropped = 1 << 32

// Open opens (creating) the outbox in dir, mode 0700, and loads what an
// earlier run left there.
func Open(dir string, next Publisher, opts Options) (*Outbox, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxMessages <= 0 {
		opts.MaxMessages = 10000
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 16 << 20
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = 2 * time.Second
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	o := &Outbox{dir: dir, next: next, opts: opts, log: opts.Logger, kick: make(chan struct{}, 1)}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	for _, n := range names {
		if atomicfile.Leftover(n.Name()) {
			_ = os.Remove(filepath.Join(dir, n.Name()))
			continue
		}
		seq, kind, ok := parseName(n.Name())
		if !ok {
			continue
		}
		info, err := n.Info()
		if err != nil {
			continue
		}
		// Only regular files the agent could have written are kept: a link
		// would send what it points at, and a file past any message's size
		// would push every real message out of the bounds.
		if !info.Mode().IsRegular() || info.Size() > maxMessageBytes {
			o.log.Warn("outbox entry that is no message removed", "name", n.Name(), "mode", info.Mode().String(), "bytes", info.Size())
			_ = os.RemoveAll(filepath.Join(dir, n.Name()))
			continue
		}
		o.queue = append(o.queue, entry{seq: seq, kind: kind, size: info.Size()})
		o.bytes += info.Size()
		o.seq = max(o.seq, seq)
	}
	slices.SortFunc(o.queue, func(a, b entry) int { return compare(a.seq, b.seq) })
	if b, err := os.ReadFile(filepath.Join(dir, droppedFile)); err == nil && len(b) == 8 {
		// The count cannot pass what the outbox could have dropped in a
		// run; a larger one is damage, and reporting it would be a lie.
		o.dropped = min(binary.BigEndian.Uint64(b), maxDropped)
	}
	o.mu.Lock()
	o.trimLocked()
	o.mu.Unlock()
	return o, nil
}

func compare(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func fileName(seq uint64, kind topic.Kind) string {
	return fmt.Sprintf("%020d.%s.msg", seq, kind)
}

func parseName(name string) (uint64, topic.Kind, bool) {
	base, ok := strings.CutSuffix(name, ".msg")
	if !ok {
		return 0, "", false
	}
	num, kind, ok := strings.Cut(base, ".")
	seq, err := strconv.ParseUint(num, 10, 64)
	if !ok || err != nil || seq > maxSeq || !topic.Kind(kind).FromAgent() {
		return 0, "", false
	}
	return seq, topic.Kind(kind), true
}

// Publish sends msg now when nothing is waiting and the uplink is up;
// otherwise it keeps msg on disk behind what waits, so order holds.
func (o *Outbox) Publish(ctx context.Context, kind topic.Kind, msg proto.Message) error {
	if o.Len() == 0 {
		o.send.Lock()
		if o.Len() == 0 {
			err := o.next.Publish(ctx, kind, msg)
			o.send.Unlock()
			if err == nil || !o.offline(err) {
				return err
			}
		} else {
			o.send.Unlock()
		}
	}
	b, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("outbox: encode %s: %w", kind, err)
	}
	return o.store(kind, b)
}

func (o *Outbox) offline(err error) bool {
	return o.opts.Offline != nil && errors.Is(err, o.opts.Offline)
}

func (o *Outbox) store(kind topic.Kind, b []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	e := entry{seq: o.seq, kind: kind, size: int64(len(b))}
	if err := atomicfile.WritePrivate(filepath.Join(o.dir, fileName(e.seq, kind)), b); err != nil {
		return fmt.Errorf("outbox: store %s: %w", kind, err)
	}
	o.queue = append(o.queue, e)
	o.bytes += e.size
	o.trimLocked()
	o.wake()
	return nil
}

// trimLocked drops the oldest messages until the bounds hold.
func (o *Outbox) trimLocked() {
	n := 0
	for len(o.queue) > 0 && (len(o.queue) > o.opts.MaxMessages || o.bytes > o.opts.MaxBytes) {
		e := o.queue[0]
		o.queue = o.queue[1:]
		o.bytes -= e.size
		_ = os.Remove(filepath.Join(o.dir, fileName(e.seq, e.kind)))
		n++
	}
	if n > 0 {
		o.dropped += uint64(n)
		o.total += uint64(n)
		o.saveDroppedLocked()
		o.log.Warn("outbox full; dropped the oldest messages", "dropped", n, "waiting", len(o.queue))
	}
}

func (o *Outbox) saveDroppedLocked() {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], o.dropped)
	if err := atomicfile.WritePrivate(filepath.Join(o.dir, droppedFile), b[:]); err != nil {
		o.log.Error("outbox drop count not saved", "error", err)
	}
}

func (o *Outbox) wake() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Len returns how many messages wait.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queue)
}

// Dropped returns how many messages were dropped since Open.
func (o *Outbox) Dropped() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.total
}

// Kick asks for a delivery attempt now, e.g. when the uplink connects.
func (o *Outbox) Kick() { o.wake() }

// Run delivers waiting messages until ctx ends.
func (o *Outbox) Run(ctx context.Context) {
	t := time.NewTicker(o.opts.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.kick:
		case <-t.C:
		}
		if err := o.Flush(ctx); err != nil && !o.offline(err) && ctx.Err() == nil {
			o.log.Warn("outbox delivery failed", "error", err)
		}
	}
}

// Flush delivers what waits, in order: first a report of the drops, then
// the messages. It stops at the first failure and keeps the rest.
func (o *Outbox) Flush(ctx context.Context) error {
	o.send.Lock()
	defer o.send.Unlock()
	o.mu.Lock()
	dropped := o.dropped
	o.mu.Unlock()
	if dropped > 0 {
		ev := vocab.Event(homeplanev1.InstanceEventKind_INSTANCE_EVENT_KIND_OUTBOX_DROPPED)
		ev.Time, ev.Dropped = timestamppb.Now(), dropped
		ev.Reason = fmt.Sprintf("the outbox was full; %d oldest messages dropped", dropped)
		if err := o.next.Publish(ctx, topic.Events, ev); err != nil {
			return err
		}
		o.mu.Lock()
		o.dropped -= dropped
		o.saveDroppedLocked()
		o.mu.Unlock()
	}
	for {
		o.mu.Lock()
		if len(o.queue) == 0 {
			o.mu.Unlock()
			return nil
		}
		e := o.queue[0]
		o.mu.Unlock()
		path := filepath.Join(o.dir, fileName(e.seq, e.kind))
		b, err := os.ReadFile(path)
		if err == nil {
			err = o.deliver(ctx, e.kind, b)
		}
		if errors.Is(err, fs.ErrNotExist) {
			err = nil // dropped meanwhile
		}
		if err != nil && o.offline(err) {
			return err
		}
		if err != nil {
			// A message that cannot be decoded or sent for another reason
			// would block the queue forever: log it and move on.
			o.log.Error("outbox message discarded", "kind", e.kind, "error", err)
		}
		o.mu.Lock()
		if len(o.queue) > 0 && o.queue[0].seq == e.seq {
			o.queue = o.queue[1:]
			o.bytes -= e.size
		}
		o.mu.Unlock()
		_ = os.Remove(path)
	}
}

func (o *Outbox) deliver(ctx context.Context, kind topic.Kind, b []byte) error {
	var msg proto.Message
	switch kind {
	case topic.Result:
		msg = &homeplanev1.Result{}
	case topic.Telemetry:
		msg = &homeplanev1.Telemetry{}
	case topic.Events:
		msg = &homeplanev1.InstanceEvent{}
	case topic.Entities:
		msg = &homeplanev1.EntitySync{}
	default:
		return fmt.Errorf("outbox: %s messages are not kept", kind)
	}
	if err := proto.Unmarshal(b, msg); err != nil {
		return fmt.Errorf("outbox: decode %s: %w", kind, err)
	}
	return o.next.Publish(ctx, kind, msg)
}
