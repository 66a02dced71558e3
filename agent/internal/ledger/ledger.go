// Package ledger remembers on disk the commands the agent has run and what
// they answered, so that a command the broker delivers again after an agent
// restart is answered from the ledger instead of running twice. A command
// that was still running when the agent stopped is not run again either:
// its effect is unknown, and toggling a light or upgrading twice is worse
// than saying so. The ledger is bounded in entries and in time.
//
// On disk it is one append-only log: a record when a command begins and one
// when it finishes, each a length, a CRC-32C and the record. The begin
// record is synced before Begin returns: that is what keeps a command from
// running twice. The finished record is written but not synced; the next
// sync (of the next begin record, or of a rewrite) takes it to disk. Losing
// it to a power cut costs little: the command is then answered as
// interrupted after the restart, and central, which had the result, is no
// longer waiting for it. So a command costs one sync, where a file per
// command cost a create, a rename and two.
// The log is rewritten with only what is remembered when it has grown to a
// few times that, and at Open, which also cuts off a record a crash left
// half written.
package ledger

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/vocab"

	"github.com/homeplane/homeplane/agent/internal/atomicfile"
)

// CodeInterrupted is the error code of the answer to a command whose run an
// agent restart interrupted; central treats it as the command not having
// been done now.
const CodeInterrupted = homeplanev1.CommandError_COMMAND_ERROR_UNAVAILABLE

// maxIDLen bounds the ids kept; the command runner refuses longer ones anyway.
const maxIDLen = 256

// maxRecordBytes bounds one record; a result larger than that is not kept.
const maxRecordBytes = 1 << 20

// logName is the log's file name in the ledger's directory.
const logName = "ledger.log"

// frameHeader is a record's length and CRC-32C, both little-endian uint32.
const frameHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options tunes a Ledger; zero values take the defaults in brackets.
type Options struct {
	Logger *slog.Logger
	// MaxEntries bounds the commands remembered; the oldest go first
	// (1024). A command comes back after a restart while it is in flight:
	// redelivered by the broker or retried by central within its deadline.
	// 1024 covers 100 s at 10 commands/s and days at a household's rate;
	// each costs about 100 bytes of heap and a file.
	MaxEntries int
	// TTL is how long a command is remembered, and at least until its
	// deadline when that is sooner than MaxTTL (1h).
	TTL    time.Duration
	MaxTTL time.Duration // (24h)
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Ledger is the on-disk memory of commands. Its methods are safe for
// concurrent use.
type Ledger struct {
	dir  string
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	byID    map[string]*entry
	order   []*entry // oldest first
	f       *os.File // the log, open for appending
	size    int64    // the log's length
	records int      // records in the log, remembered or not
}

type entry struct {
	id      string
	expires time.Time
	done    bool  // a result is stored
	stale   bool  // begun by an earlier run of the agent and never finished
	at      int64 // where the finished record's frame starts in the log
}

// record is one entry of the log: a command begun, or finished with Result.
type record struct {
	ID      string    `json:"id"`
	Expires time.Time `json:"expires"`
	// Result is the protobuf Result; empty while the command runs.
	Result []byte `json:"result,omitempty"`
}

// Open opens (creating, mode 0700) the ledger in dir and loads what an
// earlier run left there.
func Open(dir string, opts Options) (*Ledger, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 1024
	}
	if opts.TTL <= 0 {
		opts.TTL = time.Hour
	}
	if opts.MaxTTL < opts.TTL {
		opts.MaxTTL = max(24*time.Hour, opts.TTL)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	// Results name the home's entities and states: for the agent only.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	l := &Ledger{dir: dir, opts: opts, log: opts.Logger, byID: map[string]*entry{}}
	if err := l.load(); err != nil {
		return nil, err
	}
	return l, nil
}

// Close syncs and closes the log. The ledger must not be used afterwards.
func (l *Ledger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	// The finished records are not synced as they are written.
	err := errors.Join(l.f.Sync(), l.f.Close())
	l.f = nil
	return err
}

// kept is a command to carry into a rewritten log: its finished record is
// copied from the old log at from, or, for a command still running (or
// from the earlier layout), framed anew.
type kept struct {
	id      string
	expires time.Time
	done    bool
	from    int64  // frame of the finished record in the old log; -1: none
	result  []byte // the result, for a record of the earlier layout
	clamped bool   // expires was cut to MaxTTL: the record is framed anew
}

// load reads the records of the earlier one-file-per-command layout, then
// the log, which is newer, and rewrites the log with what is still
// remembered.
func (l *Ledger) load() error {
	byID := map[string]*kept{}
	var order []*kept
	keep := func(k kept) { // the newest record of a command wins
		if old := byID[k.id]; old != nil {
			*old = k
			return
		}
		byID[k.id] = &k
		order = append(order, &k)
	}
	var old []string
	names, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	for _, n := range names {
		name := n.Name()
		path := filepath.Join(l.dir, name)
		switch {
		case atomicfile.Leftover(name):
			_ = os.Remove(path)
		case strings.HasSuffix(name, ".json"):
			old = append(old, path)
			r, err := readRecordFile(path)
			if err != nil {
				l.log.Warn("unreadable command record removed", "path", path, "error", err)
				continue
			}
			keep(kept{id: r.ID, expires: r.Expires, done: len(r.Result) > 0, from: -1, result: r.Result})
		}
	}
	l.setAsideOdd()
	src, err := os.Open(filepath.Join(l.dir, logName)) // nil when there is no log yet
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("ledger: %w", err)
	default:
		defer src.Close()
		l.readLog(src, func(r record, at int64) {
			k := kept{id: r.ID, expires: r.Expires, done: len(r.Result) > 0, from: -1}
			if k.done {
				k.from = at
			}
			keep(k)
		})
	}
	now := l.opts.Now()
	live := order[:0]
	for _, k := range order {
		// A clock that ran ahead when the command came set its expiry
		// too late; no command is kept past MaxTTL from now.
		if limit := now.Add(l.opts.MaxTTL); k.expires.After(limit) {
			k.expires, k.clamped = limit, true
		}
		if now.Before(k.expires) {
			live = append(live, k)
		}
	}
	// Expiry follows the order commands arrived in closely enough to trim by.
	slices.SortStableFunc(live, func(a, b *kept) int { return a.expires.Compare(b.expires) })
	if len(live) > l.opts.MaxEntries {
		live = live[len(live)-l.opts.MaxEntries:]
	}
	for _, k := range live {
		e := &entry{id: k.id, expires: k.expires, done: k.done, stale: !k.done}
		l.byID[e.id] = e
		l.order = append(l.order, e)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.rewriteLocked(live, src); err != nil {
		return err
	}
	// The old files go only once the log holds what they held.
	for _, path := range old {
		_ = os.Remove(path)
	}
	return nil
}

// setAsideOdd moves a log that is not a regular file (a directory, a link
// to elsewhere) to logName.damaged, so the agent starts on a new log and
// neither reads nor writes through it.
func (l *Ledger) setAsideOdd() {
	path := filepath.Join(l.dir, logName)
	st, err := os.Lstat(path)
	if err != nil || st.Mode().IsRegular() {
		return
	}
	aside := path + ".damaged"
	_ = os.RemoveAll(aside)
	err = os.Rename(path, aside)
	l.log.Error("command log is not a regular file; set aside, commands run before are not remembered", "path", path, "mode", st.Mode().String(), "moved_to", aside, "error", err)
}

// readLog calls fn for each whole record of the log and where its frame
// starts, in order. A frame cut short or failing its checksum ends the log:
// it is what a crash mid-write leaves, and nothing after it was
// acknowledged.
func (l *Ledger) readLog(f *os.File, fn func(r record, at int64)) {
	br := bufio.NewReader(f)
	var off int64
	for {
		r, n, err := readFrame(br)
		if err == io.EOF {
			return
		}
		if err != nil {
			l.log.Warn("command log ends in a damaged record; the rest is dropped", "offset", off, "error", err)
			return
		}
		fn(r, off)
		off += n
	}
}

// readFrame reads one framed record and reports its length on disk; io.EOF
// means the log ended cleanly between records.
func readFrame(r io.Reader) (record, int64, error) {
	var rec record
	b, err := readRawFrame(r, nil)
	if err != nil {
		return rec, 0, err
	}
	if err := json.Unmarshal(b[frameHeader:], &rec); err != nil {
		return rec, 0, err
	}
	if rec.ID == "" {
		return rec, 0, errors.New("no command id")
	}
	return rec, int64(len(b)), nil
}

// readRawFrame reads one frame, header included, into buf (grown as needed)
// and checks it.
func readRawFrame(r io.Reader, buf []byte) ([]byte, error) {
	buf = slices.Grow(buf[:0], frameHeader)[:frameHeader]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("frame header: %w", err)
	}
	n := binary.LittleEndian.Uint32(buf[0:4])
	if n == 0 || n > maxRecordBytes {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	sum := binary.LittleEndian.Uint32(buf[4:8])
	buf = slices.Grow(buf, int(n))[:frameHeader+int(n)]
	if _, err := io.ReadFull(r, buf[frameHeader:]); err != nil {
		return nil, fmt.Errorf("frame body: %w", err)
	}
	if crc32.Checksum(buf[frameHeader:], castagnoli) != sum {
		return nil, errors.New("checksum mismatch")
	}
	return buf, nil
}

// frame encodes r for the log.
func frame(r record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(b) > maxRecordBytes {
		return nil, fmt.Errorf("record of %d bytes, at most %d are kept", len(b), maxRecordBytes)
	}
	out := make([]byte, frameHeader, frameHeader+len(b))
	binary.LittleEndian.PutUint32(out[0:4], uint32(len(b)))
	binary.LittleEndian.PutUint32(out[4:8], crc32.Checksum(b, castagnoli))
	return append(out, b...), nil
}

// readRecordFile reads a record file of the earlier one-file-per-command
// layout.
func readRecordFile(path string) (record, error) {
	var r record
	st, err := os.Stat(path)
	if err != nil {
		return r, err
	}
	if st.Size() > maxRecordBytes {
		return r, fmt.Errorf("%d bytes", st.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, err
	}
	if r.ID == "" {
		return r, fmt.Errorf("no command id")
	}
	return r, nil
}

// Recall answers cmd from the ledger when an earlier run of the agent ran
// it: with the stored result, or, when that run was interrupted, with an
// error saying so. ok is false when cmd must be run (or is running now in
// this process, whose own deduplication answers it).
func (l *Ledger) Recall(cmd *homeplanev1.Command) (res *homeplanev1.Result, ok bool) {
	id := cmd.GetId()
	l.mu.Lock()
	e := l.byID[id]
	if e == nil || !l.opts.Now().Before(e.expires) || (!e.done && !e.stale) {
		l.mu.Unlock()
		return nil, false
	}
	if !e.done {
		l.mu.Unlock()
		return interrupted(cmd, "the agent restarted while this command ran; it is not run again, and whether it took effect is unknown"), true
	}
	r, err := l.readAtLocked(e.at)
	l.mu.Unlock()
	if err == nil && r.ID != id {
		err = fmt.Errorf("record at %d is command %q", e.at, r.ID)
	}
	if err == nil {
		res = &homeplanev1.Result{}
		err = proto.Unmarshal(r.Result, res)
	}
	if err != nil {
		l.log.Error("stored result unreadable; answering the command as interrupted", "command_id", id, "error", err)
		return interrupted(cmd, "the agent ran this command before but lost its result"), true
	}
	return res, true
}

func interrupted(cmd *homeplanev1.Command, msg string) *homeplanev1.Result {
	res := vocab.Fail(CodeInterrupted, msg)
	res.CommandId, res.RequestId = cmd.GetId(), cmd.GetRequestId()
	return res
}

// readAtLocked reads the record whose frame starts at off.
func (l *Ledger) readAtLocked(off int64) (record, error) {
	if l.f == nil {
		return record{}, errors.New("ledger closed")
	}
	r, _, err := readFrame(io.NewSectionReader(l.f, off, l.size-off))
	return r, err
}

// Begin records that cmd starts running, durably, before it does. A
// command already recorded is left as it is.
func (l *Ledger) Begin(cmd *homeplanev1.Command) error {
	id := cmd.GetId()
	if !keepable(id) {
		return nil
	}
	now := l.opts.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.byID[id]; e != nil && now.Before(e.expires) {
		return nil
	}
	e := &entry{id: id, expires: l.expiry(cmd, now)}
	if _, err := l.appendLocked(record{ID: id, Expires: e.expires}, true); err != nil {
		return fmt.Errorf("ledger: begin %s: %w", id, err)
	}
	l.byID[id] = e
	l.order = append(l.order, e)
	l.trimLocked(now)
	l.compactLocked()
	return nil
}

// Finish stores the result of cmd, which Begin recorded, without waiting
// for the disk (see the package comment).
func (l *Ledger) Finish(cmd *homeplanev1.Command, res *homeplanev1.Result) error {
	id := cmd.GetId()
	if !keepable(id) {
		return nil
	}
	b, err := proto.Marshal(res)
	if err != nil {
		return fmt.Errorf("ledger: finish %s: %w", id, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.byID[id]
	if e == nil || e.done {
		return nil // forgotten meanwhile (bound reached), or a duplicate's answer
	}
	at, err := l.appendLocked(record{ID: id, Expires: e.expires, Result: b}, false)
	if err != nil {
		return fmt.Errorf("ledger: finish %s: %w", id, err)
	}
	e.done, e.at = true, at
	l.compactLocked()
	return nil
}

// appendLocked writes r at the end of the log, and syncs it when sync is
// set, returning where its frame starts. A failed write is cut off again,
// so that a later record does not land behind a torn one.
func (l *Ledger) appendLocked(r record, sync bool) (int64, error) {
	if l.f == nil {
		return 0, errors.New("ledger closed")
	}
	b, err := frame(r)
	if err != nil {
		return 0, err
	}
	at := l.size
	if _, err := l.f.WriteAt(b, at); err != nil {
		_ = l.f.Truncate(at)
		return 0, err
	}
	if sync {
		if err := l.f.Sync(); err != nil {
			_ = l.f.Truncate(at)
			return 0, err
		}
	}
	l.size += int64(len(b))
	l.records++
	return at, nil
}

// compactLocked rewrites the log once it holds four times the records
// remembered (and at least a bound's worth), so it stays within a few
// MaxEntries of records whatever the traffic. A failed rewrite leaves the
// log as it was, and is tried again at the next record.
func (l *Ledger) compactLocked() {
	if l.records < 4*max(len(l.byID), l.opts.MaxEntries/4, 16) {
		return
	}
	live := make([]*kept, 0, len(l.order))
	for _, e := range l.order {
		if l.byID[e.id] != e {
			continue
		}
		k := &kept{id: e.id, expires: e.expires, done: e.done, from: -1}
		if e.done {
			k.from = e.at
		}
		live = append(live, k)
	}
	if err := l.rewriteLocked(live, l.f); err != nil {
		l.log.Error("command log not compacted", "error", err)
	}
}

// rewriteLocked replaces the log with live, in order, copying finished
// records frame by frame from src, and points the index at the new frames.
// The new log is written beside the old and renamed over it, so a crash
// leaves one or the other whole; nothing is held in memory but one record.
func (l *Ledger) rewriteLocked(live []*kept, src *os.File) error {
	path := filepath.Join(l.dir, logName)
	at := make([]int64, len(live))
	var size int64
	err := atomicfile.WritePrivateFrom(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 16<<10)
		var buf []byte
		for i, k := range live {
			var err error
			switch {
			case k.from >= 0 && src != nil:
				buf, err = readRawFrame(io.NewSectionReader(src, k.from, maxRecordBytes+frameHeader), buf)
				if err == nil && k.clamped {
					var r record
					if err = json.Unmarshal(buf[frameHeader:], &r); err == nil {
						r.Expires = k.expires
						buf, err = frame(r)
					}
				}
				if err != nil { // the index points at a damaged record: keep the command as interrupted
					l.log.Error("stored result unreadable while rewriting the log; kept as interrupted", "command_id", k.id, "error", err)
					k.done = false
					buf, err = frame(record{ID: k.id, Expires: k.expires})
				}
			default:
				buf, err = frame(record{ID: k.id, Expires: k.expires, Result: k.result})
			}
			if err != nil {
				return err
			}
			at[i] = size
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			size += int64(len(buf))
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.size, l.records = f, size, len(live)
	for i, k := range live {
		e := l.byID[k.id]
		if e == nil {
			continue
		}
		e.at = at[i]
		if e.done && !k.done { // its result was damaged: interrupted, as after a crash
			e.done, e.stale = false, true
		}
	}
	return nil
}

// Len is how many commands are remembered.
func (l *Ledger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byID)
}

func keepable(id string) bool { return id != "" && len(id) <= maxIDLen }

// expiry keeps a command for TTL, or until its deadline if that is later
// and within MaxTTL.
func (l *Ledger) expiry(cmd *homeplanev1.Command, now time.Time) time.Time {
	keep := now.Add(l.opts.TTL)
	if dl := cmd.GetDeadline(); dl != nil && dl.IsValid() {
		if t := dl.AsTime(); t.After(keep) {
			keep = t
			if limit := now.Add(l.opts.MaxTTL); keep.After(limit) {
				keep = limit
			}
		}
	}
	return keep
}

// trimLocked forgets expired commands at the front and the oldest beyond
// MaxEntries; their records go at the next compaction.
func (l *Ledger) trimLocked(now time.Time) {
	for len(l.order) > 0 {
		e := l.order[0]
		if now.Before(e.expires) && len(l.byID) <= l.opts.MaxEntries {
			return
		}
		l.order = l.order[1:]
		// An id begun again after expiring has a newer entry further on.
		if l.byID[e.id] == e {
			delete(l.byID, e.id)
		}
	}
}
