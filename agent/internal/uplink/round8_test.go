package uplink

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// TestAttacksRound8Commands is the eighth attack round's part on commands
// from the broker (docs/benchmarks.md, "Attacks, round 8"): payloads round
// 6 did not send. Each row asserts whether an answer comes and is ok, how
// many calls Home Assistant saw, and that the agent serves the next command.
func TestAttacksRound8Commands(t *testing.T) {
	b, sim := startCommandRig(t)
	const light = "light.kitchen_ceiling"
	toggle := []*homeplanev1.ServiceCall{{Domain: "light", Service: "toggle", EntityIds: []string{light}}}
	cmd := func(id string, calls []*homeplanev1.ServiceCall) *homeplanev1.Command {
		return &homeplanev1.Command{Id: id, RequestId: "r-" + id, Deadline: timestamppb.New(time.Now().Add(time.Minute)), Calls: calls}
	}
	encode := func(c *homeplanev1.Command) []byte {
		p, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	many := make([]string, 1000)
	for i := range many {
		many[i] = light
	}
	deep := structpb.NewNullValue()
	for range 200 {
		deep = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{deep}})
	}
	far := cmd("far", toggle)
	far.Deadline = timestamppb.New(time.Now().AddDate(1, 0, 0))
	bad := cmd("bad-deadline", toggle)
	bad.Deadline = &timestamppb.Timestamp{Seconds: 1e15, Nanos: -5}
	both := cmd("both", toggle)
	both.Instance = &homeplanev1.InstanceControl{}
	unknown := protowire.AppendTag(encode(cmd("unknown-fields", toggle)), 9999, protowire.BytesType)
	unknown = protowire.AppendBytes(unknown, make([]byte, 100<<10))
	rows := []struct {
		name    string
		payload []byte
		id      string // the result to wait for; "" when none comes
		ok      bool
		calls   int
	}{
		{name: "a deadline a year ahead", payload: encode(far), id: "far", ok: true, calls: 1},
		{name: "a deadline that is no time (1e15 s, -5 ns)", payload: encode(bad), id: "bad-deadline"},
		{name: "100 KiB of unknown fields", payload: unknown, id: "unknown-fields", ok: true, calls: 1},
		{name: "an empty command id", payload: encode(cmd("", toggle))},
		// Refused unrun; the answer carries the id cut to 128 bytes.
		{name: "a command id of 129 bytes", payload: encode(cmd(strings.Repeat("a", 129), toggle))},
		{name: "1,000 entity ids in one call", payload: encode(cmd("many-ids", []*homeplanev1.ServiceCall{{Domain: "light", Service: "turn_on", EntityIds: many}})), id: "many-ids"},
		{name: "service data with NaN and infinity", payload: encode(cmd("nan", []*homeplanev1.ServiceCall{{Domain: "light", Service: "turn_on", EntityIds: []string{light},
			Data: &structpb.Struct{Fields: map[string]*structpb.Value{"brightness": structpb.NewNumberValue(math.NaN()), "kelvin": structpb.NewNumberValue(math.Inf(1))}}}})), id: "nan"},
		{name: "service data nested 200 deep", payload: encode(cmd("deep", []*homeplanev1.ServiceCall{{Domain: "light", Service: "turn_on", EntityIds: []string{light},
			Data: &structpb.Struct{Fields: map[string]*structpb.Value{"x": deep}}}})), id: "deep"},
		{name: "an instance action with no supervisor, beside service calls", payload: encode(both), id: "both"},
		{name: "a call with no domain or service", payload: encode(cmd("empty-call", []*homeplanev1.ServiceCall{{}})), id: "empty-call"},
	}
	next := 0
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			before := sim.CallCount()
			b.sendRaw(t, r.payload)
			if r.id != "" {
				eventually(t, "result of "+r.id, func() bool { return len(b.resultsFor(r.id)) > 0 })
				if res := b.resultsFor(r.id)[0]; res.GetOk() != r.ok {
					t.Errorf("result %v; want ok %v", res, r.ok)
				}
			}
			next++
			id := fmt.Sprintf("next8-%d", next)
			b.sendRaw(t, encode(cmd(id, toggle)))
			eventually(t, "result of "+id, func() bool { return len(b.resultsFor(id)) > 0 })
			if got := sim.CallCount() - before - 1; got != r.calls {
				t.Errorf("Home Assistant saw %d calls, want %d", got, r.calls)
			}
		})
	}
}
