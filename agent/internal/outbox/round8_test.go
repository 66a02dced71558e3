package outbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/homeplane/homeplane/protocol/topic"
)

// TestAttacksRound8Outbox is the eighth attack round's part on the outbox
// (docs/benchmarks.md, "Attacks, round 8"): its directory holding what the
// agent did not write. The agent must start, deliver what it kept, in
// order, and send nothing it did not write.
func TestAttacksRound8Outbox(t *testing.T) {
	// kept stores samples 1..n while offline and returns the outbox's dir.
	kept := func(t *testing.T, n int) string {
		dir, l := t.TempDir(), &link{offline: true}
		o := open(t, dir, l, 0)
		for i := 1; i <= n; i++ {
			if err := o.Publish(context.Background(), topic.Telemetry, sample(i)); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	deliver := func(t *testing.T, dir string) []string {
		t.Helper()
		l := &link{}
		o := open(t, dir, l, 0)
		if err := o.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		ids, _ := telemetryIDs(l.received())
		return ids
	}
	t.Run("a message file of garbage", func(t *testing.T) {
		dir := kept(t, 2)
		if err := os.WriteFile(filepath.Join(dir, fileName(1, topic.Telemetry)), []byte("\xff\xff garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(deliver(t, dir), ","); got != "2" {
			t.Fatalf("delivered %s; want 2 (the garbage skipped)", got)
		}
	})
	t.Run("a message file of 100 MB", func(t *testing.T) {
		dir := kept(t, 2)
		f, err := os.Create(filepath.Join(dir, fileName(3, topic.Telemetry)))
		if err != nil {
			t.Fatal(err)
		}
		_ = f.Truncate(100 << 20)
		f.Close()
		if got := strings.Join(deliver(t, dir), ","); got != "1,2" {
			t.Fatalf("delivered %s; want 1,2 (the file past any message's size not letting them drop)", got)
		}
	})
	t.Run("a message file that is a symlink elsewhere", func(t *testing.T) {
		dir := kept(t, 1)
		other := filepath.Join(t.TempDir(), "other.msg")
		b, _ := proto.Marshal(sample(99))
		if err := os.WriteFile(other, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(other, filepath.Join(dir, fileName(2, topic.Telemetry))); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(deliver(t, dir), ","); got != "1" {
			t.Fatalf("delivered %s; want 1 (nothing read through the link)", got)
		}
		if _, err := os.Stat(other); err != nil {
			t.Fatalf("the link's target: %v", err)
		}
	})
	t.Run("a message file that is a directory", func(t *testing.T) {
		dir := kept(t, 2)
		if err := os.MkdirAll(filepath.Join(dir, fileName(2, topic.Telemetry)+"x", "y"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, fileName(2, topic.Telemetry))); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, fileName(2, topic.Telemetry)+"x"), filepath.Join(dir, fileName(2, topic.Telemetry))); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(deliver(t, dir), ","); got != "1" {
			t.Fatalf("delivered %s; want 1", got)
		}
	})
	t.Run("a sequence number at its end", func(t *testing.T) {
		dir := kept(t, 1)
		b, _ := proto.Marshal(sample(2))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.%s.msg", uint64(1<<64-1), topic.Telemetry)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		l := &link{offline: true}
		o := open(t, dir, l, 0)
		if err := o.Publish(context.Background(), topic.Telemetry, sample(3)); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(deliver(t, dir), ","); !strings.HasSuffix(got, "3") {
			t.Fatalf("delivered %s after a restart; want the newest message last", got)
		}
	})
	t.Run("a drop count file of garbage", func(t *testing.T) {
		dir := kept(t, 1)
		if err := os.WriteFile(filepath.Join(dir, droppedFile), []byte("\xff\xff\xff\xff\xff\xff\xff\xff"), 0o600); err != nil {
			t.Fatal(err)
		}
		l := &link{}
		o := open(t, dir, l, 0)
		if err := o.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		ids, dropped := telemetryIDs(l.received())
		for _, d := range dropped {
			if d > maxDropped {
				t.Fatalf("reported %d dropped; more than years offline could drop", d)
			}
		}
		if strings.Join(ids, ",") != "1" {
			t.Fatalf("delivered %v; want 1", ids)
		}
	})
}
