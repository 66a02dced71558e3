package command

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// fakeLedger remembers in memory, as an earlier run of the agent would
// have left it, and notes the order of events.
type fakeLedger struct {
	mu      sync.Mutex
	results map[string]*homeplanev1.Result
	events  []string
	ha      *fakeHA
}

func (l *fakeLedger) Recall(cmd *homeplanev1.Command) (*homeplanev1.Result, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	res, ok := l.results[cmd.GetId()]
	return res, ok
}

func (l *fakeLedger) Begin(cmd *homeplanev1.Command) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ha.callCount() != 0 {
		l.events = append(l.events, "begin after the call")
	}
	l.events = append(l.events, "begin "+cmd.GetId())
	return nil
}

func (l *fakeLedger) Finish(cmd *homeplanev1.Command, res *homeplanev1.Result) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, "finish "+cmd.GetId())
	l.results[cmd.GetId()] = res
	return nil
}

func TestLedgerAnswersAndRecords(t *testing.T) {
	ha := &fakeHA{}
	led := &fakeLedger{ha: ha, results: map[string]*homeplanev1.Result{
		"earlier": {CommandId: "earlier", Ok: true},
	}}
	r := newRunner(ha, Options{Ledger: led})

	if res := r.Handle(context.Background(), command("earlier", sc("light", "toggle", "light.a"))); !res.GetOk() || ha.callCount() != 0 {
		t.Fatalf("a command of an earlier run: %v, %d calls; want the ledger's answer and no call", res, ha.callCount())
	}
	if res := r.Handle(context.Background(), command("new", sc("light", "toggle", "light.a"))); !res.GetOk() || ha.callCount() != 1 {
		t.Fatalf("a new command: %v, %d calls", res, ha.callCount())
	}
	late := command("late", sc("light", "toggle", "light.a"))
	late.Deadline = timestamppb.New(time.Now().Add(-time.Second))
	if res := r.Handle(context.Background(), late); res.GetCode() != CodeExpired {
		t.Fatalf("a late command: %v", res)
	}
	led.mu.Lock()
	defer led.mu.Unlock()
	want := []string{"begin new", "finish new", "finish late"}
	if len(led.events) != len(want) {
		t.Fatalf("ledger saw %v, want %v (a late command is never begun)", led.events, want)
	}
	for i := range want {
		if led.events[i] != want[i] {
			t.Fatalf("ledger saw %v, want %v", led.events, want)
		}
	}
}
