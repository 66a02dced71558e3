package ledger

import (
	"encoding/json"
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
	t.Cleanup(func() { l.Close() })
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
	if !ok || res.GetOk() || res.GetCode() != CodeInterrupted || res.GetRequestId() != "req-redelivered" || res.GetCommandId() != "upgrade" {
		t.Fatalf("redelivery after an interrupted run answered %v, %v; want an %v error", res, ok, CodeInterrupted)
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

func TestLogStaysBounded(t *testing.T) {
	dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
	l := open(t, dir, c, 8)
	ran := 0
	want := map[string]*homeplanev1.Result{}
	for i := range 500 {
		id := fmt.Sprint("c", i)
		want[id] = run(t, l, cmd(id), &ran)
		c.add(time.Second)
		if l.records > 64 {
			t.Fatalf("after %d commands the log holds %d records; compaction should keep it near 4 × 16", i+1, l.records)
		}
	}
	st, err := os.Stat(filepath.Join(dir, logName))
	if err != nil || st.Size() != l.size {
		t.Fatalf("log is %v bytes (%v), the ledger counts %d", st.Size(), err, l.size)
	}
	// The newest eight survive compaction and a restart with their results.
	l = open(t, dir, c, 8)
	for i := 492; i < 500; i++ {
		id := fmt.Sprint("c", i)
		res, ok := l.Recall(cmd(id))
		if !ok || !proto.Equal(res, want[id]) {
			t.Fatalf("%s after compaction and restart: %v, %v; want the stored result", id, res, ok)
		}
	}
	if _, ok := l.Recall(cmd("c491")); ok {
		t.Fatal("c491 answered from the ledger, beyond its bound of 8")
	}
}

// filled is a ledger in a new directory that has run and finished ids.
func filled(t *testing.T, ids ...string) (string, *clock, *Ledger) {
	t.Helper()
	dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
	l := open(t, dir, c, 0)
	for _, id := range ids {
		run(t, l, cmd(id), new(int))
	}
	return dir, c, l
}

// wantResults fails unless each id is answered with its stored, ok result.
func wantResults(t *testing.T, l *Ledger, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if res, ok := l.Recall(cmd(id)); !ok || !res.GetOk() {
			t.Errorf("%s: %v, %v; want its stored result", id, res, ok)
		}
	}
}

// wantInterrupted fails unless id is answered as interrupted.
func wantInterrupted(t *testing.T, l *Ledger, id string) {
	t.Helper()
	if res, ok := l.Recall(cmd(id)); !ok || res.GetCode() != CodeInterrupted {
		t.Errorf("%s: %v, %v; want the interrupted answer", id, res, ok)
	}
}

func TestTornRecordIsCutOff(t *testing.T) {
	dir, c, l := filled(t, "a", "b")
	l.Close()
	// A crash in the middle of the next append leaves half a frame.
	next, err := frame(record{ID: "c", Expires: c.now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	appendBytes(t, filepath.Join(dir, logName), next[:len(next)/2])

	l = open(t, dir, c, 0)
	if l.Len() != 2 {
		t.Fatalf("%d commands remembered after a torn write, want the 2 before it", l.Len())
	}
	run(t, l, cmd("d"), new(int)) // lands after the cut, not behind the torn half
	wantResults(t, open(t, dir, c, 0), "a", "b", "d")
}

func TestDamagedRecordEndsTheLog(t *testing.T) {
	dir, c, l := filled(t, "a", "b", "c")
	second := l.byID["b"].at
	l.Close()
	path := filepath.Join(dir, logName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[second+frameHeader+3] ^= 0xff // inside b's finished record
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, c, 0)
	wantResults(t, l, "a") // before the damage
	// b's begin record is intact, so b is known to have started: answered as
	// interrupted rather than run twice. c, after the damage, is gone.
	wantInterrupted(t, l, "b")
	if _, ok := l.Recall(cmd("c")); ok {
		t.Error("c, after the damaged record, answered from the log")
	}
}

func TestCompactionKeepsADamagedResultAsInterrupted(t *testing.T) {
	dir, c, l := filled(t, "a", "b", "c")
	// The disk changes b's result under the running agent.
	if _, err := l.f.WriteAt([]byte{0xff}, l.byID["b"].at+frameHeader+3); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	l.records = 1 << 20 // due for compaction
	l.compactLocked()
	l.mu.Unlock()
	if l.records != 3 {
		t.Fatalf("log holds %d records after compaction, want 3", l.records)
	}
	for _, l := range []*Ledger{l, open(t, dir, c, 0)} {
		wantInterrupted(t, l, "b")
		wantResults(t, l, "a", "c")
	}
}

func TestOneFilePerCommandLayoutIsImported(t *testing.T) {
	dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
	res := &homeplanev1.Result{CommandId: "old", RequestId: "req-old", Ok: true}
	b, err := proto.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	exp := c.now().Add(time.Hour)
	writeJSON(t, filepath.Join(dir, "0a1b2c3d4e5f60718293a4b5c6d7e8f9.json"), record{ID: "old", Expires: exp, Result: b})
	writeJSON(t, filepath.Join(dir, "1a1b2c3d4e5f60718293a4b5c6d7e8f9.json"), record{ID: "running", Expires: exp})
	writeJSON(t, filepath.Join(dir, "2a1b2c3d4e5f60718293a4b5c6d7e8f9.json"), record{ID: "expired", Expires: c.now()})

	open(t, dir, c, 0).Close()
	if files, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(files) != 0 {
		t.Errorf("old record files left: %v", files)
	}
	l := open(t, dir, c, 0) // from the log alone now
	if got, ok := l.Recall(cmd("old")); !ok || !proto.Equal(got, res) {
		t.Errorf("old: %v, %v; want %v", got, ok, res)
	}
	wantInterrupted(t, l, "running")
	if _, ok := l.Recall(cmd("expired")); ok || l.Len() != 2 {
		t.Errorf("expired record imported (%d remembered)", l.Len())
	}
}

func TestOversizedResultIsNotKept(t *testing.T) {
	dir, c := t.TempDir(), &clock{t: time.Unix(1_800_000_000, 0)}
	l := open(t, dir, c, 0)
	big := cmd("big")
	if err := l.Begin(big); err != nil {
		t.Fatal(err)
	}
	res := &homeplanev1.Result{CommandId: "big", Ok: true, Error: string(make([]byte, maxRecordBytes))}
	if err := l.Finish(big, res); err == nil {
		t.Fatal("a result over the record bound was accepted")
	}
	run(t, l, cmd("after"), new(int))
	l = open(t, dir, c, 0)
	wantInterrupted(t, l, "big")
	wantResults(t, l, "after")
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t *testing.T, path string, r record) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
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

// BenchmarkCommand is the ledger's part of a command's latency: the begin
// record before it runs and the finished record with a result after, on the
// disk of the test's temporary directory.
func BenchmarkCommand(b *testing.B) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := open(b, b.TempDir(), c, 1024)
	res := &homeplanev1.Result{Ok: true, Changed: []*homeplanev1.Entity{{EntityId: "light.kitchen", State: "on"}}}
	i := 0
	for b.Loop() {
		x := cmd(fmt.Sprintf("%08d-1b4d-4e8f-9a6b-0c1d2e3f4a5b", i))
		i++
		if err := l.Begin(x); err != nil {
			b.Fatal(err)
		}
		if err := l.Finish(x, res); err != nil {
			b.Fatal(err)
		}
	}
}
