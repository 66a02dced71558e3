// Package ledger remembers on disk the commands the agent has run and what
// they answered, so that a command the broker delivers again after an agent
// restart is answered from the ledger instead of running twice. A command
// that was still running when the agent stopped is not run again either:
// its effect is unknown, and toggling a light or upgrading twice is worse
// than saying so. The ledger is bounded in entries and in time.
package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/agent/internal/atomicfile"
)

// CodeInterrupted is the error code of the answer to a command whose run an
// agent restart interrupted; central treats it as the command not having
// been done now.
const CodeInterrupted = "unavailable"

// maxIDLen bounds the ids kept; longer ones are refused by dispatch anyway.
const maxIDLen = 256

// maxRecordBytes bounds a record file read back at Open.
const maxRecordBytes = 1 << 20

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

	mu    sync.Mutex
	byID  map[string]*entry
	order []*entry // oldest first
}

type entry struct {
	id      string
	expires time.Time
	done    bool // a result is stored
	stale   bool // begun by an earlier run of the agent and never finished
}

// record is one command's file.
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

func (l *Ledger) load() error {
	names, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	now := l.opts.Now()
	for _, n := range names {
		if atomicfile.Leftover(n.Name()) {
			_ = os.Remove(filepath.Join(l.dir, n.Name()))
			continue
		}
		if !strings.HasSuffix(n.Name(), ".json") {
			continue
		}
		path := filepath.Join(l.dir, n.Name())
		r, err := readRecord(path)
		if err != nil || !now.Before(r.Expires) || filepath.Base(l.path(r.ID)) != n.Name() {
			if err != nil {
				l.log.Warn("unreadable command record removed", "path", path, "error", err)
			}
			_ = os.Remove(path)
			continue
		}
		e := &entry{id: r.ID, expires: r.Expires, done: len(r.Result) > 0, stale: len(r.Result) == 0}
		l.byID[e.id] = e
		l.order = append(l.order, e)
	}
	// Expiry follows the order commands arrived in closely enough to trim by.
	slices.SortFunc(l.order, func(a, b *entry) int { return a.expires.Compare(b.expires) })
	l.mu.Lock()
	l.trimLocked(now)
	l.mu.Unlock()
	return nil
}

func readRecord(path string) (record, error) {
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
	done := e.done
	l.mu.Unlock()
	if !done {
		return &homeplanev1.Result{
			CommandId: id, RequestId: cmd.GetRequestId(), ErrorCode: CodeInterrupted,
			Error: "the agent restarted while this command ran; it is not run again, and whether it took effect is unknown",
		}, true
	}
	r, err := readRecord(l.path(id))
	if err == nil {
		res = &homeplanev1.Result{}
		err = proto.Unmarshal(r.Result, res)
	}
	if err != nil {
		l.log.Error("stored result unreadable; answering the command as interrupted", "command_id", id, "error", err)
		return &homeplanev1.Result{CommandId: id, RequestId: cmd.GetRequestId(), ErrorCode: CodeInterrupted,
			Error: "the agent ran this command before but lost its result"}, true
	}
	return res, true
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
	if err := writeRecord(l.path(id), record{ID: id, Expires: e.expires}); err != nil {
		return fmt.Errorf("ledger: begin %s: %w", id, err)
	}
	l.byID[id] = e
	l.order = append(l.order, e)
	l.trimLocked(now)
	return nil
}

// Finish stores the result of cmd, which Begin recorded.
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
	if err := writeRecord(l.path(id), record{ID: id, Expires: e.expires, Result: b}); err != nil {
		return fmt.Errorf("ledger: finish %s: %w", id, err)
	}
	e.done = true
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
// MaxEntries.
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
			_ = os.Remove(l.path(e.id))
		}
	}
}

// path names a command's file after a hash of its id, so any id is a safe
// file name.
func (l *Ledger) path(id string) string {
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(l.dir, hex.EncodeToString(sum[:16])+".json")
}

// writeRecord replaces path atomically and durably, mode 0600.
func writeRecord(path string, r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return atomicfile.WritePrivate(path, b)
}
