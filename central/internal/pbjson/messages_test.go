package pbjson_test

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/pbjson"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

const nasty = "q\"uote\\ back/slash \n\r\t\b\f \x00\x01\x1f\x7f <script>&amp; \u2028\u2029 é 日本 🏠 \ufffd e\u0301"

func attrs(tb testing.TB, m map[string]any) *structpb.Struct {
	tb.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// fullResult sets every field a Result and its entities have.
func fullResult(tb testing.TB) *homeplanev1.Result {
	return &homeplanev1.Result{
		CommandId: "cmd-1", RequestId: nasty, Ok: true, ErrorCode: "home_assistant", Error: nasty,
		Changed: []*homeplanev1.Entity{{
			EntityId: "light.a", Name: nasty, Aliases: []string{"a", nasty}, Domain: "light", DeviceClass: "x",
			AreaId: "hall", State: "on", Attributes: attrs(tb, map[string]any{"brightness": 180.0, "hs": []any{30.5, nil, "x", true}, nasty: map[string]any{}}),
			LastChanged: timestamppb.New(time.Date(2026, 12, 7, 3, 4, 5, 120_000_000, time.UTC)),
		}, {EntityId: "light.b"}},
		HomeAssistantUs: math.MaxInt64,
		Instance:        &homeplanev1.Instance{State: "running", Restarts: 2, MemoryBytes: 1 << 40, StartedAt: timestamppb.New(time.Unix(5, 0))},
		Code:            homeplanev1.CommandError_COMMAND_ERROR_BUSY,
	}
}

func fullCall(tb testing.TB) *homeplanev1.ServiceCall {
	return &homeplanev1.ServiceCall{
		Domain: "light", Service: "turn_on", EntityIds: []string{"light.kitchen", nasty},
		Data: attrs(tb, map[string]any{"brightness_pct": 30.0, "tiny": 1e-7, "big": 1e21, "name": nasty, "l": []any{map[string]any{"d": 0.1}}}),
	}
}

// fullAnswer sets every field a ProcessResponse and its parts have.
func fullAnswer(tb testing.TB) *homeplanev1.ProcessResponse {
	return &homeplanev1.ProcessResponse{
		Speech: nasty,
		Intent: &homeplanev1.Intent{Name: "HassLightSet", Slots: attrs(tb, map[string]any{"name": nasty, "brightness": 30.0, "l": []any{"a", 1.5}})},
		Targets: []*homeplanev1.Target{
			{EntityId: "light.a", Name: nasty, Area: "Hall", Domain: "light", State: "on"},
			{},
		},
		Success: true, ConversationId: nasty, RequestId: "req-1", ErrorCode: "no_match",
	}
}

// TestFixturesSetEveryField keeps the comparisons honest when the messages
// grow: a field left unset would not show an encoder that leaves it out.
func TestFixturesSetEveryField(t *testing.T) {
	set := map[protoreflect.FullName]bool{}
	r := fullResult(t)
	a := fullAnswer(t)
	for _, m := range []proto.Message{r, r.Changed[0], fullCall(t), a, a.Intent, a.Targets[0]} {
		m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			set[fd.FullName()] = true
			return true
		})
	}
	for _, m := range []proto.Message{&homeplanev1.Result{}, &homeplanev1.Entity{}, &homeplanev1.ServiceCall{},
		&homeplanev1.ProcessResponse{}, &homeplanev1.Intent{}, &homeplanev1.Target{}} {
		fields := m.ProtoReflect().Descriptor().Fields()
		for i := range fields.Len() {
			if fd := fields.Get(i); !set[fd.FullName()] {
				t.Errorf("the fixtures set no %s", fd.FullName())
			}
		}
	}
}

// sameJSON compares two documents as JSON values, numbers by their text.
func sameJSON(tb testing.TB, got, want []byte) {
	tb.Helper()
	decode := func(b []byte) any {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			tb.Fatalf("%s: %v", b, err)
		}
		return v
	}
	if !reflect.DeepEqual(decode(got), decode(want)) {
		tb.Fatalf("got  %s\nwant %s", got, want)
	}
}

var protoNames = protojson.MarshalOptions{UseProtoNames: true}

func TestMessagesMatchProtojson(t *testing.T) {
	for name, r := range map[string]*homeplanev1.Result{
		"full":         fullResult(t),
		"empty":        {},
		"unknown code": {Code: 99, Ok: false, HomeAssistantUs: -7},
		"no instance":  {CommandId: "c", Ok: true, Changed: []*homeplanev1.Entity{{EntityId: "a.b", Attributes: &structpb.Struct{}}}},
	} {
		t.Run("result/"+name, func(t *testing.T) {
			got, err := pbjson.AppendResult([]byte("prefix"), r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(got, []byte("prefix")) {
				t.Fatalf("%s does not extend its buffer", got)
			}
			want, err := protoNames.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, got[len("prefix"):], want)
		})
	}
	for name, c := range map[string]*homeplanev1.ServiceCall{
		"full":       fullCall(t),
		"empty":      {},
		"empty data": {Domain: "lock", Service: "lock", EntityIds: []string{}, Data: &structpb.Struct{}},
	} {
		t.Run("call/"+name, func(t *testing.T) {
			got, err := pbjson.AppendServiceCall(nil, c)
			if err != nil {
				t.Fatal(err)
			}
			want, err := protoNames.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, got, want)
		})
	}
}

func TestProcessResponseMatchesProtojson(t *testing.T) {
	for name, r := range map[string]*homeplanev1.ProcessResponse{
		"full":         fullAnswer(t),
		"empty":        {},
		"empty intent": {Intent: &homeplanev1.Intent{}, Targets: []*homeplanev1.Target{}},
		"empty slots":  {Intent: &homeplanev1.Intent{Name: "HassTurnOn", Slots: &structpb.Struct{}}, Success: true},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := pbjson.AppendProcessResponse([]byte("prefix"), r)
			if err != nil {
				t.Fatal(err)
			}
			want, err := protojson.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, got[len("prefix"):], want)
		})
	}
	bad := &homeplanev1.ProcessResponse{Targets: []*homeplanev1.Target{{Name: "\xff"}}}
	if _, err := protojson.Marshal(bad); err == nil {
		t.Fatal("protojson took invalid UTF-8")
	}
	if got, err := pbjson.AppendProcessResponse(nil, bad); err == nil {
		t.Errorf("invalid UTF-8: encoded as %s, want an error", got)
	}
}

func FuzzProcessResponse(f *testing.F) {
	f.Add(nasty, "HassTurnOn", "name", "Kitchen", "light.kitchen", true)
	f.Add("\xff", "", "", "", "", false)
	f.Fuzz(func(t *testing.T, speech, intentName, slot, value, entity string, ok bool) {
		r := &homeplanev1.ProcessResponse{
			Speech: speech, Success: ok, ConversationId: value, ErrorCode: slot,
			Intent: &homeplanev1.Intent{Name: intentName, Slots: &structpb.Struct{Fields: map[string]*structpb.Value{
				slot: structpb.NewStringValue(value),
			}}},
			Targets: []*homeplanev1.Target{{EntityId: entity, Name: value, State: speech}},
		}
		want, wantErr := protojson.Marshal(r)
		got, err := pbjson.AppendProcessResponse(nil, r)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, protojson's %v", err, wantErr)
		}
		if err == nil {
			sameJSON(t, got, want)
		}
	})
}

func TestMessagesRefuseWhatProtojsonRefuses(t *testing.T) {
	for name, c := range map[string]*homeplanev1.ServiceCall{
		"invalid UTF-8 entity": {EntityIds: []string{"light.\xff"}},
		"NaN":                  {Data: &structpb.Struct{Fields: map[string]*structpb.Value{"x": structpb.NewNumberValue(math.NaN())}}},
		"no kind":              {Data: &structpb.Struct{Fields: map[string]*structpb.Value{"x": {}}}},
	} {
		if _, err := protoNames.Marshal(c); err == nil {
			t.Fatalf("%s: protojson took it", name)
		}
		if got, err := pbjson.AppendServiceCall(nil, c); err == nil {
			t.Errorf("%s: encoded as %s, want an error", name, got)
		}
	}
	r := &homeplanev1.Result{Changed: []*homeplanev1.Entity{{LastChanged: &timestamppb.Timestamp{Seconds: math.MaxInt64}}}}
	if got, err := pbjson.AppendResult(nil, r); err == nil {
		t.Errorf("timestamp out of range: encoded as %s, want an error", got)
	}
}

func FuzzServiceCall(f *testing.F) {
	f.Add("light", "turn_on", "light.kitchen", "brightness_pct", 30.0, "x")
	f.Add("\xff", "", "", "", math.Inf(1), nasty)
	f.Fuzz(func(t *testing.T, domain, service, entity, key string, n float64, s string) {
		c := &homeplanev1.ServiceCall{
			Domain: domain, Service: service, EntityIds: []string{entity},
			Data: &structpb.Struct{Fields: map[string]*structpb.Value{
				key: structpb.NewNumberValue(n), "s": structpb.NewStringValue(s),
			}},
		}
		want, werr := protoNames.Marshal(c)
		got, gerr := pbjson.AppendServiceCall(nil, c)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("protojson error %v, pbjson error %v", werr, gerr)
		}
		if werr == nil {
			sameJSON(t, got, want)
		}
	})
}

// BenchmarkProcessResponse compares the answer's encoding with protojson's:
// go test -run '^$' -bench ProcessResponse -benchmem ./internal/pbjson/
func BenchmarkProcessResponse(b *testing.B) {
	r := &homeplanev1.ProcessResponse{
		Speech: "Turned on the lights", Intent: &homeplanev1.Intent{Name: "HassTurnOn", Slots: attrs(b, map[string]any{"area": "Kitchen", "domain": "light"})},
		Targets: []*homeplanev1.Target{
			{EntityId: "light.kitchen_ceiling", Name: "Kitchen Ceiling", Area: "Kitchen", Domain: "light", State: "on"},
			{EntityId: "light.kitchen_counter", Name: "Kitchen Counter", Area: "Kitchen", Domain: "light", State: "on"},
		},
		Success: true, ConversationId: "0f8a4c52-8d1e-4c1b-9b5e-2d7d3f6a9e11", RequestId: "01JEXAMPLE0000000000000000",
	}
	buf := make([]byte, 0, 1024)
	b.Run("protojson", func(b *testing.B) {
		for b.Loop() {
			if _, err := (protojson.MarshalOptions{}).MarshalAppend(buf[:0], r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pbjson", func(b *testing.B) {
		for b.Loop() {
			if _, err := pbjson.AppendProcessResponse(buf[:0], r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
