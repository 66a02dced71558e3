package rpc

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/timer"
)

// isStreaming reports whether a procedure streams, which the unary JSON
// probes of the generic tests cannot call.
func isStreaming(tb testing.TB, procedure string) bool {
	tb.Helper()
	name := protoreflect.FullName(procedure[1:len(procedure)])
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			name = name[:i] + "." + name[i+1:]
			break
		}
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	if err != nil {
		tb.Fatalf("procedure %s: %v", procedure, err)
	}
	m, ok := d.(protoreflect.MethodDescriptor)
	return ok && (m.IsStreamingServer() || m.IsStreamingClient())
}

func TestWatchTimersGuarded(t *testing.T) {
	e := newTestEnv(t)
	c := e.clients()
	tests := []struct {
		name  string
		token string
		home  string
		want  connect.Code
	}{
		{name: "no token", want: connect.CodeUnauthenticated},
		{name: "bad token", token: "garbage", want: connect.CodeUnauthenticated},
		{name: "user without home", token: accessToken(e.alice), want: connect.CodeInvalidArgument},
		{name: "someone else's home", token: accessToken(e.alice), home: e.bobHome.ID, want: connect.CodeNotFound},
		{name: "missing home", token: accessToken(e.alice), home: "00000000-0000-4000-8000-00000000dead", want: connect.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := connect.NewRequest(&homeplanev1.WatchTimersRequest{HomeId: tt.home})
			if tt.token != "" {
				req.Header().Set("Authorization", "Bearer "+tt.token)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stream, err := c.intent.WatchTimers(ctx, req)
			if err == nil {
				for stream.Receive() {
					t.Fatalf("event for a refused caller: %v", stream.Msg())
				}
				err = stream.Err()
			}
			if connect.CodeOf(err) != tt.want {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWatchTimersDeliversTheDevicesTimers(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			e := newTestEnv(t)
			c := e.clients(p.opts...)
			owner := timer.Owner{HomeID: e.aliceHome.ID, DeviceID: e.device.ID}
			if _, err := e.timers.Start(timer.Timer{Owner: owner, Name: "tea", Start: time.Hour}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stream, err := c.intent.WatchTimers(ctx, as(e.deviceToken, &homeplanev1.WatchTimersRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			if !stream.Receive() {
				t.Fatalf("no snapshot: %v", stream.Err())
			}
			if m := stream.Msg(); m.GetKind() != homeplanev1.WatchTimersResponse_KIND_UPDATED || m.GetTimer().GetName() != "tea" || m.GetTimer().GetStartSeconds() != 3600 {
				t.Errorf("snapshot %v", m)
			}
			// Someone else's device: its timers never reach this stream.
			if _, err := e.timers.Start(timer.Timer{Owner: timer.Owner{HomeID: e.aliceHome.ID, DeviceID: "other"}, Start: time.Minute}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.timers.Start(timer.Timer{Owner: owner, Name: "egg", Start: time.Second}); err != nil {
				t.Fatal(err)
			}
			var kinds []homeplanev1.WatchTimersResponse_Kind
			for len(kinds) < 2 && stream.Receive() {
				m := stream.Msg()
				if m.GetTimer().GetName() != "egg" {
					t.Fatalf("event of another timer: %v", m)
				}
				kinds = append(kinds, m.GetKind())
			}
			if len(kinds) != 2 || kinds[0] != homeplanev1.WatchTimersResponse_KIND_STARTED || kinds[1] != homeplanev1.WatchTimersResponse_KIND_FINISHED {
				t.Fatalf("events %v (%v), want started then finished", kinds, stream.Err())
			}
		})
	}
}

func TestPipelineRPCs(t *testing.T) {
	e := newTestEnv(t)
	c := e.clients()
	ctx := context.Background()
	got, err := c.intent.GetPipeline(ctx, as(accessToken(e.alice), &homeplanev1.GetPipelineRequest{HomeId: e.aliceHome.ID}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Msg.GetPipeline() != homeplanev1.Pipeline_PIPELINE_RULES {
		t.Errorf("default pipeline %v, want rules", got.Msg.GetPipeline())
	}
	set, err := c.intent.SetPipeline(ctx, as(accessToken(e.alice), &homeplanev1.SetPipelineRequest{HomeId: e.aliceHome.ID, Pipeline: homeplanev1.Pipeline_PIPELINE_RULES_THEN_LLM}))
	if err != nil {
		t.Fatal(err)
	}
	if set.Msg.GetPipeline() != homeplanev1.Pipeline_PIPELINE_RULES_THEN_LLM {
		t.Errorf("set answered %v", set.Msg.GetPipeline())
	}
	if p, _ := e.pipelines.Pipeline(ctx, e.aliceHome.ID); p != intent.PipelineRulesThenLLM {
		t.Errorf("stored %q", p)
	}
	tests := []struct {
		name  string
		token string
		req   *homeplanev1.SetPipelineRequest
		want  connect.Code
	}{
		{name: "unspecified", token: accessToken(e.alice), req: &homeplanev1.SetPipelineRequest{HomeId: e.aliceHome.ID}, want: connect.CodeInvalidArgument},
		{name: "someone else's home", token: accessToken(e.alice), req: &homeplanev1.SetPipelineRequest{HomeId: e.bobHome.ID, Pipeline: homeplanev1.Pipeline_PIPELINE_LLM}, want: connect.CodeNotFound},
		{name: "device", token: e.deviceToken, req: &homeplanev1.SetPipelineRequest{HomeId: e.aliceHome.ID, Pipeline: homeplanev1.Pipeline_PIPELINE_LLM}, want: connect.CodePermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.intent.SetPipeline(ctx, as(tt.token, tt.req))
			wantCode(t, err, tt.want)
		})
	}
	if p, _ := e.pipelines.Pipeline(ctx, e.bobHome.ID); p != intent.PipelineRules {
		t.Errorf("bob's pipeline changed to %q", p)
	}
}
