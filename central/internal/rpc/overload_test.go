package rpc

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/metrictest"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func TestOverloadShedsNewSentencesOnly(t *testing.T) {
	var backlog atomic.Int64 // nanoseconds
	const target = 20 * time.Millisecond
	e := newTestEnv(t, func(o *Options) {
		o.Overload = Overload{Backlog: func() time.Duration { return time.Duration(backlog.Load()) }, Target: target}
	})
	c := e.clients()
	ctx := context.Background()
	process := func() error {
		_, err := c.intent.Process(ctx, as(e.deviceToken, processMsg("turn on the kitchen lights", "")))
		return err
	}
	if err := process(); err != nil {
		t.Fatalf("keeping up: %v", err)
	}

	// A backlog above the target for less than twice as long is a slow
	// commit, not overload.
	backlog.Store(int64(time.Second))
	if err := process(); err != nil {
		t.Fatalf("backlog just seen: %v", err)
	}
	time.Sleep(2*target + 10*time.Millisecond)
	executed := len(e.intents.Requests())
	for range 5 {
		err := process()
		wantCode(t, err, connect.CodeUnavailable)
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Meta().Get("Retry-After") == "" {
			t.Fatalf("shed call without a Retry-After hint: %v", err)
		}
	}
	if n := len(e.intents.Requests()); n != executed {
		t.Fatalf("%d shed sentences reached the engine", n-executed)
	}
	// Operators keep their view of an overloaded central.
	if _, err := c.home.ListHomes(ctx, as(accessToken(e.alice), &homeplanev1.ListHomesRequest{})); err != nil {
		t.Fatalf("ListHomes while shedding: %v", err)
	}
	if got := metrictest.Value(t, e.reg, "homeplane_central_process_shed_total"); got != 5 {
		t.Fatalf("shed counter = %v, want 5", got)
	}
	// One record for the lot, not one per shed call.
	var shed []audit.Record
	for _, r := range e.auditor.Records() {
		if r.Kind == audit.KindOverloaded {
			shed = append(shed, r)
		}
	}
	if len(shed) != 1 || shed[0].DeviceID != e.device.ID || shed[0].Outcome != audit.OutcomeDenied {
		t.Fatalf("overload records = %+v, want one for the device, denied", shed)
	}

	// Once the backlog is back under the target, sentences run again.
	backlog.Store(int64(target / 2))
	if err := process(); err != nil {
		t.Fatalf("after the backlog cleared: %v", err)
	}
	if n := len(e.intents.Requests()); n != executed+1 {
		t.Fatalf("engine saw %d sentences after recovery, want 1", n-executed)
	}
}

func TestOverloadDisabled(t *testing.T) {
	for name, o := range map[string]Overload{
		"no backlog to watch": {},
		"negative target":     {Backlog: func() time.Duration { return time.Hour }, Target: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if s := newShedder(o, nil); s != nil {
				t.Fatalf("shedder built for %+v", o)
			}
			var s *shedder
			if s.sheds("/homeplane.v1.IntentService/Process", time.Now()) {
				t.Fatal("a nil shedder shed a call")
			}
		})
	}
}
