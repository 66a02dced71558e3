package rpc

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/metrictest"
	"github.com/homeplane/homeplane/central/internal/rpc/rpctest"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// The limit shrinks from what is in flight while the backlog is above the
// target, refuses what is over it, and grows back once caught up.
func TestShedderLimitFollowsTheBacklog(t *testing.T) {
	var backlog atomic.Int64
	clock := time.Unix(1700000000, 0)
	const target = 100 * time.Millisecond
	s := newShedder(Overload{Backlog: func() time.Duration { return time.Duration(backlog.Load()) }, Target: target},
		nil, func() time.Time { return clock }, nil)
	step := func() { clock = clock.Add(target / 2) }

	for range 200 { // keeping up: nothing is refused, however many
		if ok, _ := s.acquire(); !ok {
			t.Fatal("refused while keeping up")
		}
	}
	backlog.Store(int64(time.Second))
	step()
	// Behind once may be a slow commit: nothing changes yet.
	if ok, _ := s.acquire(); !ok || s.limit != maxInflightSentences {
		t.Fatalf("a single slow step cut the limit to %v", s.limit)
	}
	step()
	if ok, _ := s.acquire(); ok {
		t.Fatalf("admitted with 201 in flight and the backlog behind for a step; limit %v", s.limit)
	}
	if s.limit != 201*limitDecrease {
		t.Fatalf("limit %v, want 3/4 of the 201 in flight", s.limit)
	}
	for range 101 {
		s.release()
	}
	for range 20 { // behind for long: down to the floor
		step()
		s.acquire()
	}
	if s.limit != minInflightSentences {
		t.Fatalf("limit after a long overload = %v, want %d", s.limit, minInflightSentences)
	}
	for range 100 - minInflightSentences {
		s.release()
	}
	if s.inflight != minInflightSentences {
		t.Fatalf("%d in flight, want %d", s.inflight, minInflightSentences)
	}
	if ok, _ := s.acquire(); ok {
		t.Fatal("admitted over the floor while behind")
	}

	backlog.Store(0)
	for range 200 {
		step()
		if ok, _ := s.acquire(); ok {
			s.release()
		}
	}
	if s.limit != maxInflightSentences {
		t.Fatalf("limit after catching up = %v, want it back at %d", s.limit, maxInflightSentences)
	}
}

// heldIntents holds every sentence until released.
type heldIntents struct {
	rpctest.Intents
	started chan struct{}
	release chan struct{}
}

func (h *heldIntents) Process(ctx context.Context, req intent.Request) (intent.Response, error) {
	h.started <- struct{}{}
	<-h.release
	return h.Intents.Process(ctx, req)
}

func TestOverloadedCentralShedsNewSentencesOnly(t *testing.T) {
	var backlog atomic.Int64
	const target = 20 * time.Millisecond
	accounts, homes := rpctest.NewAccounts(), rpctest.NewHomes()
	alice := accounts.AddUser("alice@example.com", "alice-password", auth.RoleUser)
	ctx := context.Background()
	h, err := homes.Create(ctx, alice.ID, "Alice's")
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := homes.RegisterDevice(ctx, alice.ID, h.ID, "Kitchen", "kitchen")
	if err != nil {
		t.Fatal(err)
	}
	intents := &heldIntents{started: make(chan struct{}, 64), release: make(chan struct{})}
	intents.Answer(rpctest.LightsOn(), nil)
	auditor, reg := &rpctest.Auditor{}, prometheus.NewRegistry()
	srv := httptest.NewServer(NewHandler(Deps{Accounts: accounts, Homes: homes, Entities: rpctest.Entities{},
		Intents: intents, Auditor: auditor}, Options{Logger: slog.New(slog.DiscardHandler), Registerer: reg,
		DeviceRate: RateLimit{Burst: 1000, PerSecond: 1000},
		Overload:   Overload{Backlog: func() time.Duration { return time.Duration(backlog.Load()) }, Target: target}}))
	t.Cleanup(srv.Close)
	c := clientsFor(srv)
	process := func() error {
		_, err := c.intent.Process(ctx, as(token, processMsg("turn on the kitchen lights", "")))
		return err
	}

	// Twelve sentences wait on their home.
	var wg sync.WaitGroup
	held := make(chan error, 13)
	for range 12 {
		wg.Go(func() { held <- process() })
		<-intents.started
	}
	// The backlog goes behind: the first step after it only notes it, and
	// a thirteenth sentence is still admitted.
	backlog.Store(int64(time.Second))
	time.Sleep(target)
	wg.Go(func() { held <- process() })
	<-intents.started
	time.Sleep(target) // behind for a step: the next call cuts the limit to 3/4 of 13
	shed := 0
	for range 5 {
		err := process()
		if err == nil {
			t.Fatal("a sentence was admitted over the limit")
		}
		wantCode(t, err, connect.CodeUnavailable)
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Meta().Get("Retry-After") == "" {
			t.Fatalf("shed call without a Retry-After hint: %v", err)
		}
		shed++
	}
	// Operators keep their view of an overloaded central.
	if _, err := c.home.ListHomes(ctx, as(accessToken(alice), &homeplanev1.ListHomesRequest{})); err != nil {
		t.Fatalf("ListHomes while shedding: %v", err)
	}
	if got := metrictest.Value(t, reg, "homeplane_central_process_shed_total"); got != float64(shed) {
		t.Fatalf("shed counter = %v, want %d", got, shed)
	}
	// 3/4 of the 13 in flight, and less if a slow machine took another step.
	if got := metrictest.Value(t, reg, "homeplane_central_process_inflight_limit"); got > 13*limitDecrease || got < minInflightSentences {
		t.Fatalf("limit = %v, want 3/4 of 13 or less", got)
	}
	close(intents.release)
	wg.Wait()
	close(held)
	for err := range held {
		if err != nil {
			t.Fatalf("a sentence admitted before the overload failed: %v", err)
		}
	}
	if n := len(intents.Requests()); n != 13 {
		t.Fatalf("engine saw %d sentences, want the 13 admitted", n)
	}
	// One record for the lot, not one per shed call; it is written in
	// the background.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var records []audit.Record
		for _, r := range auditor.Records() {
			if r.Kind == audit.KindOverloaded {
				records = append(records, r)
			}
		}
		if len(records) == 1 && records[0].Outcome == audit.OutcomeDenied {
			break
		}
		if len(records) > 1 || time.Now().After(deadline) {
			t.Fatalf("overload records = %+v, want one, denied", records)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Caught up: sentences run again.
	backlog.Store(0)
	time.Sleep(target)
	intents.started = make(chan struct{}, 1)
	intents.release = make(chan struct{})
	close(intents.release)
	if err := process(); err != nil {
		t.Fatalf("after the backlog cleared: %v", err)
	}
}

func TestOverloadDisabled(t *testing.T) {
	for name, o := range map[string]Overload{
		"no backlog to watch": {},
		"negative target":     {Backlog: func() time.Duration { return time.Hour }, Target: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if s := newShedder(o, nil, time.Now, nil); s != nil {
				t.Fatalf("shedder built for %+v", o)
			}
		})
	}
}
