package ingest_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/ingest"
	"github.com/homeplane/homeplane/central/internal/instance"
	"github.com/homeplane/homeplane/central/internal/presence"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

const homeA = "3f2a7c9e-1b4d-4e8f-9a6b-0c1d2e3f4a5b"

// fakeTransport hands the intake's subscriptions to the test.
type fakeTransport struct {
	mu    sync.Mutex
	subs  map[string]func(string, []byte)
	after func() // run after each message the test sends
}

func (f *fakeTransport) Subscribe(filter string, fn func(string, []byte)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = make(map[string]func(string, []byte))
	}
	f.subs[filter] = fn
	return nil
}

type discardSink struct{}

func (discardSink) ApplySync(context.Context, string, ...*homeplanev1.EntitySync) error { return nil }
func (discardSink) Patch(string, []*homeplanev1.Entity) bool                            { return false }

// noResults waits for no command.
type noResults struct{}

func (noResults) Waiting(string, string) bool         { return false }
func (noResults) Deliver(string, *homeplanev1.Result) {}

// nopStore is an instance.Store that keeps nothing.
type nopStore struct{}

func (nopStore) LoadInstances(context.Context) ([]instance.Record, error) { return nil, nil }
func (nopStore) SaveInstance(context.Context, string, *homeplanev1.Instance, []instance.Restart, int) error {
	return nil
}
func (nopStore) ForgetInstance(context.Context, string) error    { return nil }
func (nopStore) InstanceHomes(context.Context) ([]string, error) { return nil, nil }

// FuzzInbound feeds arbitrary topics and payloads to the intake's handlers:
// nothing may panic, and a home that never said it was online is not.
func FuzzInbound(f *testing.F) {
	announce, _ := proto.Marshal(&homeplanev1.Presence{Online: true, AgentVersion: "1"})
	result, _ := proto.Marshal(&homeplanev1.Result{CommandId: "x", Ok: true})
	sync, _ := proto.Marshal(&homeplanev1.EntitySync{Full: true, Entities: []*homeplanev1.Entity{{EntityId: "light.a"}}})
	f.Add(uint8(0), homeA, result)
	f.Add(uint8(1), homeA, announce)
	f.Add(uint8(2), homeA, sync)
	tele, _ := proto.Marshal(&homeplanev1.Telemetry{Time: timestamppb.Now(), CpuPercent: 5,
		Instance: &homeplanev1.Instance{State: "running", RecentRestarts: []*homeplanev1.Restart{{Time: timestamppb.Now(), Reason: "x"}}}})
	event, _ := proto.Marshal(&homeplanev1.InstanceEvent{Time: timestamppb.Now(), Kind: "pull_progress", Pull: &homeplanev1.PullProgress{Percent: 50}})
	f.Add(uint8(3), homeA, tele)
	f.Add(uint8(4), homeA, event)
	f.Add(uint8(1), "+", []byte{0xff, 0xff})
	f.Add(uint8(2), "", []byte{})
	f.Fuzz(func(t *testing.T, kind uint8, home string, payload []byte) {
		tr := &fakeTransport{}
		status, err := instance.New(nopStore{}, instance.Options{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := presence.New(presence.Options{})
		if err != nil {
			t.Fatal(err)
		}
		in, err := ingest.New(tr, ingest.Targets{Results: noResults{}, Presence: p, Entities: discardSink{},
			Instances: []ingest.InstanceSink{status}}, ingest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		kinds := []topic.Kind{topic.Result, topic.Presence, topic.Entities, topic.Telemetry, topic.Events}
		k := kinds[int(kind)%len(kinds)]
		tr.subs[topic.Filter(k)](topic.Prefix+home+"/"+string(k), payload)
		if home != homeA && p.Online(homeA) {
			t.Fatal("message for another topic put home A online")
		}
	})
}
