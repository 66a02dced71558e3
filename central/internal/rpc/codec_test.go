package rpc

import (
	"context"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

func TestJSONCodecEncodesWhatProtojsonDoes(t *testing.T) {
	slots, err := structpb.NewStruct(map[string]any{"name": "Kitchen \"Lamp\"", "brightness": 30})
	if err != nil {
		t.Fatal(err)
	}
	c := jsonCodec{"json"}
	for _, m := range []proto.Message{
		&homeplanev1.ProcessResponse{
			Speech: "Brightness set", Intent: &homeplanev1.Intent{Name: "HassLightSet", Slots: slots},
			Targets: []*homeplanev1.Target{{EntityId: "light.k", Name: "Kitchen", Area: "Kitchen", Domain: "light", State: "on"}},
			Success: true, ConversationId: "c", RequestId: "r",
		},
		&homeplanev1.ProcessResponse{},
		&homeplanev1.Home{Id: "h", Name: "Home"},
	} {
		b, err := c.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back := m.ProtoReflect().New().Interface()
		if err := protojson.Unmarshal(b, back); err != nil {
			t.Fatalf("%T: protojson cannot read %s: %v", m, b, err)
		}
		if !proto.Equal(back, m) {
			t.Fatalf("%T: %s reads back as %v, want %v", m, b, back, m)
		}
	}
	if _, err := c.Marshal("not a message"); err == nil {
		t.Error("a string was encoded")
	}

	var req homeplanev1.ProcessRequest
	if err := c.Unmarshal([]byte(`{"text":"hi","futureField":1}`), &req); err != nil || req.GetText() != "hi" {
		t.Errorf("an unknown field was not dropped: %v, %v", &req, err)
	}
	if err := c.Unmarshal(nil, &req); err == nil {
		t.Error("an empty payload was taken")
	}
	if err := c.Unmarshal([]byte(`{"text":1}`), &req); err == nil {
		t.Error("a number for a string was taken")
	}
}

// The device's answer reads the same over JSON as over the binary form.
func TestProcessAnswerSameInJSON(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	var got []*homeplanev1.ProcessResponse
	for _, opts := range [][]connect.ClientOption{nil, {connect.WithProtoJSON()}} {
		resp, err := e.clients(opts...).intent.Process(ctx, as(e.deviceToken, &homeplanev1.ProcessRequest{Text: "turn on the lights", ConversationId: "same"}))
		if err != nil {
			t.Fatal(err)
		}
		resp.Msg.RequestId = ""
		got = append(got, resp.Msg)
	}
	if got[0].GetSpeech() == "" || !proto.Equal(got[0], got[1]) {
		t.Fatalf("binary %v, JSON %v", got[0], got[1])
	}
}
