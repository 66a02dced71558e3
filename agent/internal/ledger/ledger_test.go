package ledger

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func open(t testing.TB, dir string, c *clock, max int) *Ledger {
	t.Helper()
	l, err := Open(dir, Options{MaxEntries: max, TTL: time.Hour, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func cmd(id string) *homeplanev1.Command {
	return &homeplanev1.Command{Id: id, RequestId: "req-" + id}
}

// run is what the agent does with a command: answer it from the ledger or
// record it around running it.
func run(t testing.TB, l *Ledger, c *homeplanev1.Command, ran *int) *homeplanev1.Result {
	t.Helper()
	if res, ok := l.Recall(c); ok {
		return res
	}
	if err := l.Begin(c); err != nil {
		t.Fatal(err)
	}
	*ran++
	res := &homeplanev1.Result{CommandId: c.GetId(), RequestId: c.GetRequestId(), Ok: true,
		Changed: []*homeplanev1.Entity{{EntityId: "light.kitchen", State: "on"}}}
	if err := l.Finish(c, res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestResultSurvivesRestart(t *testing.T) {
	dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
	ran := 0
	first := run(t, open(t, dir, c, 0), cmd("c1"), &ran)

	again := run(t, open(t, dir, c, 0), cmd("c1"), &ran)
	if ran != 1 {
		t.Fatalf("ran %d times across a restart, want once", ran)
	}
	if !proto.Equal(first, again) {
		t.Fatalf("answer after restart %v, want the stored %v", again, first)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", f, st.Mode().Perm(), err)
		}
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", st.Mode().Perm())
	}
}

func TestInterruptedRunIsNotRepeated(t *testing.T) {
	dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
	l := open(t, dir, c, 0)
	if err := l.Begin(cmd("upgrade")); err != nil {
		t.Fatal(err)
	}
	// Still running in this process: the ledger leaves it to the caller's
	// own deduplication.
	if _, ok := l.Recall(cmd("upgrade")); ok {
		t.Fatal("a command running in this process was answered from the ledger")
	}

	// The agent stops before Finish.
	l = open(t, dir, c, 0)
	res, ok := l.Recall(&homeplanev1.Command{Id: "upgrade", RequestId: "req-redelivered"})
	if !ok || res.GetOk() || res.GetErrorCode() != CodeInterrupted || res.GetRequestId() != "req-redelivered" || res.GetCommandId() != "upgrade" {
		t.Fatalf("redelivery after an interrupted run answered %v, %v; want an %q error", res, ok, CodeInterrupted)
	}
}

func TestBounds(t *testing.T) {
	t.Run("oldest forgotten beyond MaxEntries", func(t *testing.T) {
		dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
		l := open(t, dir, c, 3)
		ran := 0
		for i := range 5 {
			run(t, l, cmd(fmt.Sprint("c", i)), &ran)
			c.add(time.Second)
		}
		if l.Len() != 3 {
			t.Fatalf("%d remembered, bound 3", l.Len())
		}
		if files, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(files) != 3 {
			t.Fatalf("%d files on disk, bound 3", len(files))
		}
		l = open(t, dir, c, 3)
		run(t, l, cmd("c4"), &ran)
		run(t, l, cmd("c0"), &ran)
		if ran != 6 {
			t.Fatalf("ran %d, want 6: c4 remembered, c0 forgotten", ran)
		}
	})
	t.Run("forgotten after TTL, kept until a later deadline", func(t *testing.T) {
		dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
		l := open(t, dir, c, 0)
		ran := 0
		long := cmd("long")
		long.Deadline = timestamppb.New(c.now().Add(3 * time.Hour))
		run(t, l, cmd("short"), &ran)
		run(t, l, long, &ran)
		c.add(2 * time.Hour)
		l = open(t, dir, c, 0)
		run(t, l, cmd("short"), &ran)
		run(t, l, long, &ran)
		if ran != 3 {
			t.Fatalf("ran %d, want 3: short forgotten after the TTL, long kept until its deadline", ran)
		}
	})
}

func TestGarbageInTheDirectory(t *testing.T) {
	dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
	bad := filepath.Join(dir, "0123.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := open(t, dir, c, 0)
	if l.Len() != 0 {
		t.Fatalf("%d remembered from garbage", l.Len())
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("unreadable record kept: %v", err)
	}
}

// BenchmarkIndexMemory reports the heap a full ledger's index holds per
// command, with ids the length of central's UUIDs.
func BenchmarkIndexMemory(b *testing.B) {
	const n = 1024
	var perEntry float64
	for b.Loop() {
		c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		l := open(b, b.TempDir(), c, n)
		cmds := make([]*homeplanev1.Command, n)
		for i := range cmds {
			cmds[i] = cmd(fmt.Sprintf("%08d-1b4d-4e8f-9a6b-0c1d2e3f4a5b", i))
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, c := range cmds {
			if err := l.Begin(c); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
		if l.Len() != n {
			b.Fatalf("Len = %d, want %d", l.Len(), n)
		}
		runtime.KeepAlive(cmds)
	}
	b.ReportMetric(perEntry, "heap-B/command")
}
