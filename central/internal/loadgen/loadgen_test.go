package loadgen

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func TestReadSentences(t *testing.T) {
	got, err := ReadSentences(strings.NewReader("# comment\nturn on the lights\n\n> turn them off\nwhat time is it\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Sentence{{"turn on the lights", false}, {"turn them off", true}, {"what time is it", false}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sentence %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if starts := groupStarts(got); len(starts) != 2 || starts[0] != 0 || starts[1] != 2 {
		t.Fatalf("group starts %v, want [0 2]", starts)
	}
	for name, in := range map[string]string{
		"empty":            "# nothing\n\n",
		"leading followup": "> turn it off\n",
		"empty followup":   "turn on\n>\n",
		"too long":         strings.Repeat("a", 1001),
	} {
		if _, err := ReadSentences(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if len(DefaultSentences()) < 10 {
		t.Fatal("the built-in sentences are missing")
	}
}

func TestMemoryHomeRunsCalls(t *testing.T) {
	var h memoryHome
	res := h.run(&homeplanev1.Command{Id: "c1", RequestId: "r1", Calls: []*homeplanev1.ServiceCall{
		{Domain: "light", Service: "turn_on", EntityIds: []string{"light.kitchen_ceiling", "light.kitchen_counter"}},
		{Domain: "lock", Service: "unlock", EntityIds: []string{"lock.front_door"}},
	}})
	if !res.GetOk() || res.GetCommandId() != "c1" || res.GetRequestId() != "r1" || len(res.GetChanged()) != 3 {
		t.Fatalf("result %v; want ok with three changed entities", res)
	}
	for _, e := range res.GetChanged() {
		want := map[string]string{"light.kitchen_ceiling": "on", "light.kitchen_counter": "on", "lock.front_door": "unlocked"}[e.GetEntityId()]
		if e.GetState() != want {
			t.Errorf("%s is %q, want %q", e.GetEntityId(), e.GetState(), want)
		}
	}
	// The home remembers, and a full sync reports it.
	for _, e := range h.fullSync().GetEntities() {
		if e.GetEntityId() == "lock.front_door" && e.GetState() != "unlocked" {
			t.Fatalf("sync after unlock says %q", e.GetState())
		}
	}
	// Back to the base state costs no memory.
	h.run(&homeplanev1.Command{Calls: []*homeplanev1.ServiceCall{{Service: "lock", EntityIds: []string{"lock.front_door"}}}})
	h.run(&homeplanev1.Command{Calls: []*homeplanev1.ServiceCall{{Service: "turn_off", EntityIds: []string{"light.kitchen_ceiling", "light.kitchen_counter"}}}})
	if len(h.changed) != 0 {
		t.Fatalf("changed states kept: %v", h.changed)
	}

	if res := h.run(&homeplanev1.Command{Calls: []*homeplanev1.ServiceCall{{Service: "turn_on", EntityIds: []string{"light.nowhere"}}}}); res.GetOk() || res.GetErrorCode() != "home_assistant" {
		t.Fatalf("unknown entity: %v", res)
	}
	if res := h.run(&homeplanev1.Command{Deadline: timestamppb.New(timestamppb.Now().AsTime().Add(-1))}); res.GetErrorCode() != "expired" {
		t.Fatalf("past deadline: %v", res)
	}
}

func TestQuantileInterpolatesInBuckets(t *testing.T) {
	uppers := []float64{0.001, 0.01, 0.1}
	cum := []uint64{50, 90, 100} // 50 under 1 ms, 40 in (1, 10] ms, 10 in (10, 100] ms
	for _, c := range []struct{ q, want float64 }{{0.5, 0.001}, {0.7, 0.0055}, {0.95, 0.055}} {
		if got := quantile(c.q, uppers, cum, 100); got < c.want*0.999 || got > c.want*1.001 {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
}
