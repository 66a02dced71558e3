//go:build linux

package ledger

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// diskFull makes every write past the files' current ends fail, as a full
// disk does, until the returned function is called.
func diskFull(t *testing.T, limit int64) func() {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatalf("read the file size limit: %v", err)
	}
	lim := old
	lim.Cur = uint64(limit)
	// Lowering one's own soft limit needs no privilege on Linux: a refusal
	// is a failure, not a reason to skip the disk-full rows.
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatalf("lower the file size limit: %v", err)
	}
	done := false
	restore := func() {
		if !done {
			done = true
			_ = syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
		}
	}
	t.Cleanup(restore)
	return restore
}

// TestAttacksRound8Ledger is the eighth attack round's part on the ledger
// (docs/benchmarks.md, "Attacks, round 8"): its file torn, replaced or
// full. The agent must start, never run a command twice and never lose a
// result it has.
func TestAttacksRound8Ledger(t *testing.T) {
	logOf := func(dir string) string { return filepath.Join(dir, logName) }
	t.Run("a log of garbage", func(t *testing.T) {
		dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
		if err := os.WriteFile(logOf(dir), []byte("\xff\xff\xff\x7fgarbage garbage garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		ran := 0
		run(t, open(t, dir, c, 0), cmd("c1"), &ran)
		run(t, open(t, dir, c, 0), cmd("c1"), &ran)
		if ran != 1 {
			t.Fatalf("ran %d times; want once", ran)
		}
	})
	t.Run("a log cut mid-record", func(t *testing.T) {
		dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
		ran := 0
		l := open(t, dir, c, 0)
		run(t, l, cmd("c1"), &ran)
		if err := l.Begin(cmd("c2")); err != nil {
			t.Fatal(err)
		}
		l.Close()
		st, _ := os.Stat(logOf(dir))
		if err := os.Truncate(logOf(dir), st.Size()-3); err != nil {
			t.Fatal(err)
		}
		l = open(t, dir, c, 0)
		run(t, l, cmd("c1"), &ran)
		if ran != 1 {
			t.Fatalf("c1 ran %d times; want once", ran)
		}
	})
	t.Run("the log replaced by a directory", func(t *testing.T) {
		dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
		if err := os.MkdirAll(filepath.Join(logOf(dir), "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, Options{Now: c.now})
		if err != nil {
			t.Fatalf("Open = %v; want the agent to start", err)
		}
		defer l.Close()
		ran := 0
		run(t, l, cmd("c1"), &ran)
		run(t, l, cmd("c1"), &ran)
		if ran != 1 {
			t.Fatalf("ran %d times; want once", ran)
		}
	})
	t.Run("the log a symlink to a file elsewhere", func(t *testing.T) {
		dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
		other := filepath.Join(t.TempDir(), "precious")
		if err := os.WriteFile(other, []byte("not the agent's"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(other, logOf(dir)); err != nil {
			t.Fatal(err)
		}
		ran := 0
		run(t, open(t, dir, c, 0), cmd("c1"), &ran)
		if b, _ := os.ReadFile(other); string(b) != "not the agent's" {
			t.Fatalf("the symlink's target became %q", b)
		}
	})
	t.Run("disk full when a command begins", func(t *testing.T) {
		dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
		l := open(t, dir, c, 0)
		ran := 0
		run(t, l, cmd("c1"), &ran)
		st, _ := os.Stat(logOf(dir))
		restore := diskFull(t, st.Size())
		err := l.Begin(cmd("c2"))
		restore()
		if err == nil {
			t.Fatal("Begin on a full disk = nil; the command would run unrecorded")
		}
		if _, ok := l.Recall(cmd("c2")); ok {
			t.Fatal("a command whose begin failed is answered from the ledger")
		}
		run(t, l, cmd("c2"), &ran)
		l.Close()
		l = open(t, dir, c, 0)
		run(t, l, cmd("c1"), &ran)
		run(t, l, cmd("c2"), &ran)
		if ran != 2 {
			t.Fatalf("ran %d; want c1 and c2 once each", ran)
		}
	})
	t.Run("disk full when a command finishes", func(t *testing.T) {
		dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
		l := open(t, dir, c, 0)
		if err := l.Begin(cmd("c1")); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(logOf(dir))
		restore := diskFull(t, st.Size())
		ferr := l.Finish(cmd("c1"), interrupted(cmd("c1"), "x"))
		restore()
		l.Close()
		l = open(t, dir, c, 0)
		ran := 0
		res := run(t, l, cmd("c1"), &ran)
		if ran != 0 || res == nil {
			t.Fatalf("after a finish that failed (%v), the command ran %d times again; want it answered", ferr, ran)
		}
	})
	t.Run("a clock a year ahead, then put right", func(t *testing.T) {
		dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
		c.add(365 * 24 * time.Hour)
		l := open(t, dir, c, 0)
		ran := 0
		run(t, l, cmd("c1"), &ran)
		l.Close()
		c.add(-365 * 24 * time.Hour)
		l = open(t, dir, c, 0)
		run(t, l, cmd("c1"), &ran) // still remembered: not run twice
		c.add(25 * time.Hour)      // past MaxTTL from the clock put right
		l.Close()
		l = open(t, dir, c, 0)
		if n := l.Len(); n != 0 || ran != 1 {
			t.Fatalf("%d commands remembered a day after the clock was put right, ran %d; want none kept past MaxTTL, run once", n, ran)
		}
	})
	t.Run("a clock that jumps back an hour", func(t *testing.T) {
		dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
		l := open(t, dir, c, 0)
		ran := 0
		run(t, l, cmd("c1"), &ran)
		c.add(-time.Hour)
		run(t, l, cmd("c1"), &ran)
		if ran != 1 {
			t.Fatalf("ran %d; want once", ran)
		}
	})
}
