package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/intent"
)

func TestProcessAsUser(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			e := newTestEnv(t)
			c := e.clients(p.opts...)
			resp, err := c.intent.Process(context.Background(), as(accessToken(e.alice), processMsg("turn on the kitchen lights to 30%", e.aliceHome.ID)))
			if err != nil {
				t.Fatal(err)
			}
			m := resp.Msg
			if m.GetSpeech() != "Turned on the lights" || !m.GetSuccess() || m.GetErrorCode() != "" {
				t.Errorf("answer %v", m)
			}
			slots := m.GetIntent().GetSlots().AsMap()
			if m.GetIntent().GetName() != "HassTurnOn" || slots["area"] != "Kitchen" || slots["brightness"] != float64(30) {
				t.Errorf("intent %v", m.GetIntent())
			}
			if len(m.GetTargets()) != 1 || m.GetTargets()[0].GetEntityId() != "light.kitchen" || m.GetTargets()[0].GetState() != "on" {
				t.Errorf("targets %v", m.GetTargets())
			}
			if m.GetRequestId() == "" || m.GetRequestId() != resp.Header().Get(RequestIDHeader) {
				t.Errorf("request id %q, header %q", m.GetRequestId(), resp.Header().Get(RequestIDHeader))
			}
			if m.GetConversationId() == "" {
				t.Error("a new conversation got no id")
			}
			reqs := e.intents.Requests()
			if len(reqs) != 1 || reqs[0].HomeID != e.aliceHome.ID || reqs[0].Language != DefaultLanguage ||
				reqs[0].RequestID != m.GetRequestId() || reqs[0].ConversationID != "" || reqs[0].Context.Area != "" {
				t.Errorf("engine got %+v", reqs)
			}
			recs := e.auditor.Records()
			if len(recs) != 1 {
				t.Fatalf("%d audit records, want 1", len(recs))
			}
			r := recs[0]
			if r.RequestID != m.GetRequestId() || r.UserID != e.alice.ID || r.HomeID != e.aliceHome.ID ||
				r.Outcome != audit.OutcomeOK || r.Intent != "HassTurnOn" || r.Parser != "rules" || r.Text != "turn on the kitchen lights to 30%" || r.Time.IsZero() {
				t.Errorf("audit record %+v", r)
			}
			executed, err := json.Marshal(r.Executed)
			if err != nil || !strings.Contains(string(executed), `"entity_ids":["light.kitchen"]`) || !strings.Contains(string(executed), `"brightness_pct":30`) {
				t.Errorf("audited execution %s, %v", executed, err)
			}
			if answer, err := json.Marshal(r.Answer); err != nil || string(answer) != `{"ok":true}` {
				t.Errorf("audited answer %s, %v", answer, err)
			}
		})
	}
}

func TestProcessNeedsAHomeForUsers(t *testing.T) {
	e := newTestEnv(t)
	_, err := e.clients().intent.Process(context.Background(), as(accessToken(e.alice), processMsg("turn on the lights", "")))
	wantCode(t, err, connect.CodeInvalidArgument)
}

func TestProcessAuditsFailures(t *testing.T) {
	tests := []struct {
		name        string
		resp        intent.Response
		err         error
		wantCode    connect.Code // 0: success
		wantOutcome string
	}{
		{"engine error", intent.Response{Parser: "rules"}, errors.New("registry: connection reset"), connect.CodeInternal, audit.OutcomeError},
		{"engine timeout", intent.Response{}, fmt.Errorf("execute: %w", context.DeadlineExceeded), connect.CodeDeadlineExceeded, audit.OutcomeError},
		{"no match", intent.Response{Speech: "Sorry, none of those devices can do that", ErrorCode: intent.CodeNoMatch}, nil, 0, audit.OutcomeFailed},
		{"unknown name", intent.Response{Speech: "Sorry, I am not aware of any device called garage", ErrorCode: intent.CodeRefused, Unknown: "garage"}, nil, 0, audit.OutcomeRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.intents.Answer(tt.resp, tt.err)
			resp, err := e.clients(connect.WithGRPC()).intent.Process(context.Background(), as(e.deviceToken, processMsg("open the garage", "")))
			if tt.wantCode != 0 {
				wantCode(t, err, tt.wantCode)
			} else if err != nil || resp.Msg.GetSuccess() || resp.Msg.GetErrorCode() != tt.resp.ErrorCode {
				t.Fatalf("got %v, %v", resp, err)
			}
			recs := e.auditor.Records()
			if len(recs) != 1 {
				t.Fatalf("%d audit records, want 1", len(recs))
			}
			if recs[0].Outcome != tt.wantOutcome || recs[0].Error == "" || recs[0].TotalUS < 0 {
				t.Errorf("audit record %+v", recs[0])
			}
			if tt.resp.Unknown != "" && recs[0].Error != "unknown: "+tt.resp.Unknown {
				t.Errorf("refusal audited without its unknown words: %q", recs[0].Error)
			}
		})
	}
}

func TestProcessFailsWhenAuditFails(t *testing.T) {
	e := newTestEnv(t)
	e.auditor.SetFail(errors.New("audit batch: pool closed at 10.0.0.7"))
	_, err := e.clients().intent.Process(context.Background(), as(e.deviceToken, processMsg("turn on the lights", "")))
	wantCode(t, err, connect.CodeInternal)
	if strings.Contains(err.Error(), "10.0.0.7") {
		t.Errorf("internal detail reached the caller: %v", err)
	}
}

func TestInternalErrorsStayInside(t *testing.T) {
	e := newTestEnv(t)
	const secret = "dial tcp 10.1.2.3:5432: password authentication failed for user homeplane"
	e.homes.SetFail(errors.New(secret))
	c := e.clients(connect.WithProtoJSON())
	resp, err := c.home.ListHomes(context.Background(), as(accessToken(e.alice), &homeplanev1.ListHomesRequest{}))
	wantCode(t, err, connect.CodeInternal)
	if resp != nil || strings.Contains(err.Error(), "10.1.2.3") || strings.Contains(err.Error(), "password") {
		t.Errorf("internal detail reached the caller: %v", err)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("not a connect error: %v", err)
	}
	id := ce.Meta().Get(RequestIDHeader)
	if id == "" || !strings.Contains(ce.Message(), id) {
		t.Errorf("message %q does not quote request id %q", ce.Message(), id)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, secret) || !strings.Contains(logs, id) {
		t.Errorf("the cause was not logged with the request id:\n%s", logs)
	}
	if n := strings.Count(logs, secret); n != 1 {
		t.Errorf("the cause was logged %d times, want once", n)
	}
}

func TestInputLimits(t *testing.T) {
	e := newTestEnv(t)
	c := e.clients(connect.WithProtoJSON())
	ctx := context.Background()
	long := strings.Repeat("ä", maxTextChars+1)

	_, err := c.intent.Process(ctx, as(e.deviceToken, processMsg(long, "")))
	wantCode(t, err, connect.CodeInvalidArgument)
	_, err = c.intent.Process(ctx, as(e.deviceToken, processMsg(strings.Repeat("ä", maxTextChars), "")))
	if err != nil {
		t.Errorf("text of exactly %d characters refused: %v", maxTextChars, err)
	}
	_, err = c.home.CreateHome(ctx, as(accessToken(e.alice), &homeplanev1.CreateHomeRequest{Name: strings.Repeat("n", maxNameChars+1)}))
	wantCode(t, err, connect.CodeInvalidArgument)
	_, err = c.home.CreateHome(ctx, as(accessToken(e.alice), &homeplanev1.CreateHomeRequest{Name: "  "}))
	wantCode(t, err, connect.CodeInvalidArgument)
	// Ids handed back are central's own shape: printable ASCII.
	for _, conv := range []string{"conv\x00", "conv\u202e", "a b", "küche"} {
		_, err = c.intent.Process(ctx, as(e.deviceToken, &homeplanev1.ProcessRequest{Text: "turn on the lights", ConversationId: conv}))
		wantCode(t, err, connect.CodeInvalidArgument)
	}
	_, err = c.intent.Process(ctx, as(e.deviceToken, &homeplanev1.ProcessRequest{Text: "turn on the lights", Language: "en\n"}))
	wantCode(t, err, connect.CodeInvalidArgument)
	if _, err = c.intent.Process(ctx, as(e.deviceToken, &homeplanev1.ProcessRequest{Text: "turn on the lights", ConversationId: "0123abcd-ef_~"})); err != nil {
		t.Errorf("a printable conversation id refused: %v", err)
	}

	// A body past the read limit is refused before any handler runs.
	huge := strings.Repeat("x", DefaultMaxRequestBytes+1)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			before := len(e.auditor.Records())
			_, err := e.clients(p.opts...).intent.Process(ctx, as(e.deviceToken, processMsg(huge, "")))
			wantCode(t, err, connect.CodeResourceExhausted)
			if len(e.auditor.Records()) != before {
				t.Error("an oversized request reached the handler")
			}
		})
	}
}

func TestMetricsAndProbes(t *testing.T) {
	e := newTestEnv(t)
	c := e.clients()
	ctx := context.Background()
	if _, err := c.home.ListHomes(ctx, as(accessToken(e.alice), &homeplanev1.ListHomesRequest{})); err != nil {
		t.Fatal(err)
	}
	_, err := c.home.ListHomes(ctx, as("", &homeplanev1.ListHomesRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := e.client.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics answered %d", code)
	}
	for _, want := range []string{
		`homeplane_central_rpc_requests_total{code="ok",procedure="/homeplane.v1.HomeService/ListHomes"} 1`,
		`homeplane_central_rpc_requests_total{code="unauthenticated",procedure="/homeplane.v1.HomeService/ListHomes"} 1`,
		`homeplane_central_rpc_seconds_count{procedure="/homeplane.v1.HomeService/ListHomes"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz answered %d", code)
	}
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz answered %d", code)
	}
}

func TestProcessContinuesConversation(t *testing.T) {
	e := newTestEnv(t)
	msg := processMsg("turn them off", e.aliceHome.ID)
	msg.ConversationId = "conv-42"
	resp, err := e.clients().intent.Process(context.Background(), as(accessToken(e.alice), msg))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Msg.GetConversationId() != "conv-42" {
		t.Errorf("conversation id %q, want conv-42", resp.Msg.GetConversationId())
	}
	if reqs := e.intents.Requests(); len(reqs) != 1 || reqs[0].ConversationID != "conv-42" {
		t.Errorf("engine got %+v", reqs)
	}
}

// TestAuditJSONHashesAsBefore keeps the executed calls, now encoded as one
// JSON array, hashing and storing as the list of encoded calls did.
func TestAuditJSONHashesAsBefore(t *testing.T) {
	data, err := structpb.NewStruct(map[string]any{"brightness_pct": 30, "name": "<kitchen & hall>"})
	if err != nil {
		t.Fatal(err)
	}
	calls := []*homeplanev1.ServiceCall{
		{Domain: "light", Service: "turn_on", EntityIds: []string{"light.kitchen", "light.hall"}, Data: data},
		{Domain: "lock", Service: "lock", EntityIds: []string{"lock.front_door"}},
	}
	executed, _ := auditJSON(calls, nil)
	former := make([]json.RawMessage, len(calls))
	for i, c := range calls {
		if former[i], err = (protojson.MarshalOptions{UseProtoNames: true}).Marshal(c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := audit.CanonicalJSON(executed)
	if err != nil {
		t.Fatal(err)
	}
	want, err := audit.CanonicalJSON(former)
	if err != nil || string(got) != string(want) {
		t.Fatalf("executed %s, %v; before %s", got, err, want)
	}
	if !strings.HasPrefix(string(got), `[{"data":{"brightness_pct":30,"name":"\u003ckitchen \u0026 hall\u003e"},"domain":"light"`) {
		t.Fatalf("executed %s", got)
	}
}

// TestProcessRecordsWhileTheTurnIsStored: the audit record is committed
// while the engine's conversation turn is still being stored, and the
// answer leaves only once the turn is there (a follow-up finds it).
func TestProcessRecordsWhileTheTurnIsStored(t *testing.T) {
	e := newTestEnv(t)
	stored := make(chan struct{})
	release := sync.OnceFunc(func() { close(stored) })
	defer release() // a failed check must not leave the handler waiting
	e.intents.HoldTurns(stored)
	answered := make(chan error, 1)
	go func() {
		_, err := e.clients().intent.Process(context.Background(), as(accessToken(e.alice), processMsg("turn on the kitchen lights", e.aliceHome.ID)))
		answered <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(e.auditor.Records()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no audit record while the turn was being stored")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-answered:
		t.Fatalf("answered (%v) before the turn was stored", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
}
