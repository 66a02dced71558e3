package limits

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// memStore is the store's contract in memory; postgres.LimitsStore is
// exercised end to end (central/e2e).
type memStore struct {
	mu    sync.Mutex
	homes map[string]*homeplanev1.InstanceLimits
}

func (m *memStore) Limits(_ context.Context, id string) (*homeplanev1.InstanceLimits, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.homes[id]
	return l, ok && l != nil, nil
}

func (m *memStore) SetLimits(_ context.Context, id string, l *homeplanev1.InstanceLimits) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.homes[id]; !ok {
		return ErrNotFound
	}
	m.homes[id] = l
	return nil
}

// agent answers config commands as an agent would, or is offline.
type agent struct {
	offline bool
	refuse  string
	got     []*homeplanev1.InstanceConfig
}

func (a *agent) Execute(_ context.Context, _ string, cmd *homeplanev1.Command) (*homeplanev1.Result, error) {
	if a.offline {
		return nil, errors.New("execute: home offline")
	}
	a.got = append(a.got, cmd.GetConfig())
	if a.refuse != "" {
		return &homeplanev1.Result{Error: a.refuse}, nil
	}
	return &homeplanev1.Result{Ok: true}, nil
}

func TestSetDeliversThenKeeps(t *testing.T) {
	ctx := context.Background()
	st := &memStore{homes: map[string]*homeplanev1.InstanceLimits{"h1": nil}}
	ag := &agent{}
	s := New(st, ag, Options{})
	want := &homeplanev1.InstanceLimits{MemoryBytes: 512 << 20, NanoCpus: 5e8}

	if d, err := s.Set(ctx, "h1", want); err != nil || !d {
		t.Fatalf("online: delivered %v, %v", d, err)
	}
	if got, _ := s.Get(ctx, "h1"); !proto.Equal(got, want) || !proto.Equal(ag.got[0].GetLimits(), want) {
		t.Fatalf("kept %v, sent %v", got, ag.got)
	}

	ag.refuse = "hosting: not enough memory left on this server"
	_, err := s.Set(ctx, "h1", &homeplanev1.InstanceLimits{MemoryBytes: 1 << 39})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not enough memory") {
		t.Fatalf("refused: %v", err)
	}
	if got, _ := s.Get(ctx, "h1"); !proto.Equal(got, want) {
		t.Fatalf("a refused change was kept: %v", got)
	}

	ag.refuse, ag.offline = "", true
	next := &homeplanev1.InstanceLimits{MemoryBytes: 256 << 20}
	if d, err := s.Set(ctx, "h1", next); err != nil || d {
		t.Fatalf("offline: delivered %v, %v", d, err)
	}
	ag.offline = false
	s.Resend(ctx, "h1")
	if last := ag.got[len(ag.got)-1]; !proto.Equal(last.GetLimits(), next) {
		t.Fatalf("resent %v, want %v", last, next)
	}

	if _, err := s.Set(ctx, "h1", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "h1"); got != nil {
		t.Fatalf("cleared limits still kept: %v", got)
	}
	n := len(ag.got)
	s.Resend(ctx, "h1")
	if len(ag.got) != n {
		t.Fatal("a home without limits was sent some")
	}

	if _, err := s.Set(ctx, "nope", next); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown home: %v", err)
	}
	s.Release(ctx, "h1")
	if !ag.got[len(ag.got)-1].GetReleased() {
		t.Fatal("release not sent")
	}
}

func TestCheck(t *testing.T) {
	for _, l := range []*homeplanev1.InstanceLimits{
		{MemoryBytes: -1}, {NanoCpus: -1}, {MemoryBytes: 1 << 20}, {MemoryBytes: 2 << 40}, {NanoCpus: 1000}, {NanoCpus: 300e9},
	} {
		if err := Check(l); !errors.Is(err, ErrInvalid) {
			t.Errorf("%v: %v", l, err)
		}
	}
	for _, l := range []*homeplanev1.InstanceLimits{nil, {}, {MemoryBytes: 6 << 20, NanoCpus: 1e7}, {MemoryBytes: 1 << 40, NanoCpus: 256e9}} {
		if err := Check(l); err != nil {
			t.Errorf("%v: %v", l, err)
		}
	}
}
