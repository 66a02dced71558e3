package audit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/homeplane/homeplane/central/internal/audit"
)

// slowStore is a hand-written audit.Store that takes a while per commit and
// counts commits, so concurrent writes pile up behind it.
type slowStore struct {
	mu      sync.Mutex
	commits int
	records []audit.Record
	delay   time.Duration
	fail    error
}

func (s *slowStore) InsertRecords(_ context.Context, rs []audit.Record) error {
	time.Sleep(s.delay) // simulated commit latency, not a wait for something
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.commits++
	s.records = append(s.records, rs...)
	return nil
}

func TestWriterGroupCommit(t *testing.T) {
	store := &slowStore{delay: 5 * time.Millisecond}
	reg := prometheus.NewRegistry()
	w := audit.NewWriter(store, audit.Options{Registerer: reg})
	defer w.Close()
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- w.Write(context.Background(), audit.Record{RequestID: fmt.Sprint("r", i), Kind: audit.KindIntent})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.records) != n {
		t.Fatalf("committed %d records, want %d", len(store.records), n)
	}
	if store.commits >= n/2 {
		t.Fatalf("%d commits for %d records: records did not share commits", store.commits, n)
	}
	// Each caller's wait is measured, and none is shorter than a commit.
	h, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	hists := map[string]*dto.Histogram{}
	for _, f := range h {
		if f.GetType() == dto.MetricType_HISTOGRAM {
			hists[strings.TrimPrefix(f.GetName(), "homeplane_central_audit_")] = f.GetMetric()[0].GetHistogram()
		}
	}
	wait, queued, wake := hists["write_seconds"], hists["queued_seconds"], hists["wake_seconds"]
	for name, got := range map[string]uint64{"write": wait.GetSampleCount(), "queued": queued.GetSampleCount(), "wake": wake.GetSampleCount()} {
		if got != n {
			t.Fatalf("audit_%s_seconds counted %d waits, want %d", name, got, n)
		}
	}
	min := store.delay.Seconds() * n
	if wait.GetSampleSum() < min {
		t.Fatalf("waits sum to %.3fs, less than every caller waiting one commit (%.3fs)", wait.GetSampleSum(), min)
	}
	// A wait is its queue, its commit and its wake, so the two parts leave
	// at least a commit for each record.
	if left := wait.GetSampleSum() - queued.GetSampleSum() - wake.GetSampleSum(); left < min*0.999 {
		t.Fatalf("waits less queue and wake leave %.3fs, less than a commit each (%.3fs)", left, min)
	}
}

func TestWriterErrors(t *testing.T) {
	boom := errors.New("disk full")
	tests := []struct {
		name  string
		store *slowStore
		rec   audit.Record
		close bool
		want  error
	}{
		{name: "store failure reaches the writer", store: &slowStore{fail: boom}, rec: audit.Record{RequestID: "r", Kind: "intent"}, want: boom},
		{name: "closed writer refuses", store: &slowStore{}, rec: audit.Record{RequestID: "r", Kind: "intent"}, close: true, want: audit.ErrClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := audit.NewWriter(tc.store, audit.Options{})
			if tc.close {
				w.Close()
			}
			err := w.Write(context.Background(), tc.rec)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Write = %v, want %v", err, tc.want)
			}
			w.Close()
		})
	}
}

func TestWriterCloseCommitsQueued(t *testing.T) {
	store := &slowStore{delay: 2 * time.Millisecond}
	w := audit.NewWriter(store, audit.Options{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 50 {
		wg.Go(func() {
			if w.Write(context.Background(), audit.Record{RequestID: fmt.Sprint(i), Kind: "intent"}) == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	w.Close()
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.records) != ok || ok != 50 {
		t.Fatalf("answered %d, committed %d", ok, len(store.records))
	}
}

func TestPageToken(t *testing.T) {
	f := audit.Filter{HomeID: "h", Text: "lights"}
	c := audit.Cursor{Time: time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC), ID: 42}
	tok := f.PageToken(c)
	got, err := f.ParsePageToken(tok)
	if err != nil || !got.Time.Equal(c.Time) || got.ID != 42 {
		t.Fatalf("ParsePageToken = %+v, %v", got, err)
	}
	tests := []struct {
		name string
		f    audit.Filter
		tok  string
	}{
		{"other filters", audit.Filter{HomeID: "other"}, tok},
		{"garbage", f, "!!!"},
		{"not json", f, "aGVsbG8"},
		{"too long", f, string(make([]byte, 300))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.f.ParsePageToken(tc.tok); !errors.Is(err, audit.ErrInvalidPageToken) {
				t.Fatalf("err = %v, want ErrInvalidPageToken", err)
			}
		})
	}
}

// gateStore holds each commit until released.
type gateStore struct {
	entered chan struct{}
	release chan struct{}
}

func (s *gateStore) InsertRecords(ctx context.Context, _ []audit.Record) error {
	s.entered <- struct{}{}
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestBacklogIsTheAgeOfTheOldestRecordWaiting(t *testing.T) {
	store := &gateStore{entered: make(chan struct{}, 1), release: make(chan struct{})}
	w := audit.NewWriter(store, audit.Options{})
	defer w.Close()
	if b := w.Backlog(); b != 0 {
		t.Fatalf("idle writer: backlog %v", b)
	}
	written := make(chan error, 2)
	write := func(id string) {
		go func() { written <- w.Write(context.Background(), audit.Record{RequestID: id, Kind: audit.KindIntent}) }()
	}
	write("first")
	<-store.entered // its commit hangs
	write("second")
	time.Sleep(30 * time.Millisecond) // let the first record age
	if b := w.Backlog(); b < 30*time.Millisecond || b > 10*time.Second {
		t.Errorf("backlog during a hung commit = %v, want the first record's age", b)
	}
	store.release <- struct{}{}
	<-store.entered // the second record's commit: its age, not the first's
	// It was queued just after the first commit began, so it is nearly
	// as old (its goroutine may have started a little late).
	if b := w.Backlog(); b < 15*time.Millisecond {
		t.Errorf("backlog of the second commit = %v; the second record waited about 30ms", b)
	}
	store.release <- struct{}{}
	for range 2 {
		if err := <-written; err != nil {
			t.Fatal(err)
		}
	}
	if b := w.Backlog(); b != 0 {
		t.Fatalf("backlog after every record was committed = %v", b)
	}
}
