package rpc

import (
	"context"
	"encoding/json"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/pbjson"
)

// DefaultLanguage is the language of a request that names none.
const DefaultLanguage = "en"

// intentService serves IntentService.
type intentService struct {
	s *server
}

var _ homeplanev1connect.IntentServiceHandler = (*intentService)(nil)

// Process understands one sentence for a home. A device token fixes the home
// and supplies the area; a user token must name one of the user's homes. It
// tells the audit decorator how the sentence was understood and carried
// out; the decorator commits the record of every call that got past
// authentication, successful or not, before the call returns. With an
// idempotency key, a retry (on any replica) gets the first call's answer and
// the home runs the command once.
func (i *intentService) Process(ctx context.Context, req *connect.Request[homeplanev1.ProcessRequest]) (*connect.Response[homeplanev1.ProcessResponse], error) {
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, connect.NewError(connect.CodePermissionDenied, errDenied)
	}
	ev := auditing(ctx)
	m := req.Msg
	scope := callerScope(caller)
	ireq, err := i.request(ctx, caller, m)
	var key string
	if err == nil {
		key, err = requestKey(req.Header(), m.GetIdempotencyKey())
		ireq.CommandID = commandIDFor(scope, key)
	}
	if err != nil {
		ev.Outcome = audit.OutcomeRejected
		return nil, err
	}
	ev.HomeID = ireq.HomeID
	ctx = deferredTurns(ctx)
	if key == "" || i.s.deps.Idempotency == nil {
		out, err := i.process(ctx, ev, ireq)
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(out), nil
	}
	out := new(homeplanev1.ProcessResponse)
	_, ran, err := i.s.once(ctx, scope, key, m, out, func(ctx context.Context) (proto.Message, error) {
		return i.process(ctx, ev, ireq)
	})
	if !ran {
		// The first call has its own record; this one says it was answered
		// from it, or why not.
		ev.Trace = nil
		ev.Outcome = audit.OutcomeReplayed
		if err != nil {
			ev.Outcome, ev.Error = audit.OutcomeRejected, err.Error()
		}
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(out), nil
}

// process runs one checked request through the engine and tells ev how it
// went.
func (i *intentService) process(ctx context.Context, ev *audit.Event, ireq intent.Request) (*homeplanev1.ProcessResponse, error) {
	resp, err := i.s.deps.Intents.Process(ctx, ireq)
	ev.Trace = &audit.Trace{
		Intent: string(resp.Intent.Name), Slots: resp.Intent.Slots, Parser: resp.Parser, LLMTokens: int(resp.LLMTokens),
		ParseUS: resp.ParseDur.Microseconds(), ResolveUS: resp.ResolveDur.Microseconds(), ExecuteUS: resp.ExecuteDur.Microseconds(),
	}
	ev.Trace.Executed, ev.Trace.Answer = auditJSON(resp.Executed, resp.Result)
	switch {
	case err != nil:
		ev.Outcome = audit.OutcomeError
		return nil, err
	case resp.ErrorCode == intent.CodeRefused:
		// The engine would not act: unknown names, or the home's policy.
		ev.Outcome, ev.Error = audit.OutcomeRefused, "sensitive action not allowed by the home's policy"
		if resp.Unknown != "" {
			ev.Error = "unknown: " + resp.Unknown
		}
	case !resp.Success:
		ev.Outcome, ev.Error = audit.OutcomeFailed, resp.ErrorCode
	default:
		ev.Outcome = audit.OutcomeOK
	}
	return &homeplanev1.ProcessResponse{
		Speech:         resp.Speech,
		Intent:         &homeplanev1.Intent{Name: string(resp.Intent.Name), Slots: slotsProto(resp.Intent.Slots)},
		Targets:        targetsProto(resp.Targets),
		Success:        resp.Success,
		ConversationId: resp.ConversationID,
		RequestId:      ireq.RequestID,
		ErrorCode:      resp.ErrorCode,
	}, nil
}

// request checks m and builds the engine's request for the caller.
func (i *intentService) request(ctx context.Context, caller Caller, m *homeplanev1.ProcessRequest) (intent.Request, error) {
	var c check
	c.field("text", m.GetText(), true, maxTextChars)
	c.plain("text", m.GetText())
	c.field("conversation_id", m.GetConversationId(), false, maxIDChars)
	c.token("conversation_id", m.GetConversationId())
	c.field("language", m.GetLanguage(), false, maxLanguageChars)
	c.token("language", m.GetLanguage())
	if !caller.IsDevice() {
		c.field("home_id", m.GetHomeId(), true, maxIDChars)
	}
	if err := c.err(); err != nil {
		return intent.Request{}, err
	}
	r := intent.Request{
		RequestID:      RequestID(ctx),
		Text:           m.GetText(),
		Language:       m.GetLanguage(),
		ConversationID: m.GetConversationId(),
	}
	if r.Language == "" {
		r.Language = DefaultLanguage
	}
	if caller.IsDevice() {
		// The device's own home and area; whatever the request says is ignored.
		r.HomeID, r.Context.Area, r.DeviceID = caller.HomeID, caller.Area, caller.DeviceID
		return r, nil
	}
	r.UserID = caller.UserID
	h, err := i.s.deps.Homes.Get(ctx, caller.UserID, m.GetHomeId())
	if err != nil {
		return intent.Request{}, err
	}
	r.HomeID = h.ID
	return r, nil
}

// auditJSON renders what was executed and answered in the protobuf JSON
// mapping, which the audit log stores as is; encoding/json would spell the
// generated structs' internals instead. The calls are one JSON array,
// encoded into one buffer.
func auditJSON(executed []*homeplanev1.ServiceCall, result *homeplanev1.Result) (any, any) {
	var ex, ans any
	if len(executed) > 0 {
		b := append(make([]byte, 0, 256*len(executed)), '[')
		for i, c := range executed {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendAuditJSON(b, c, pbjson.AppendServiceCall)
		}
		ex = json.RawMessage(append(b, ']'))
	}
	if result != nil {
		ans = json.RawMessage(appendAuditJSON(nil, result, pbjson.AppendResult))
	}
	return ex, ans
}

// appendAuditJSON appends m in the protobuf JSON mapping with proto names,
// or a note saying why it could not be encoded. It runs for every executed
// request, so the two messages it meets are written without reflection.
func appendAuditJSON[M proto.Message](b []byte, m M, appendMsg func([]byte, M) ([]byte, error)) []byte {
	out, err := appendMsg(b, m)
	if err != nil {
		note, _ := json.Marshal(map[string]string{"unencodable": err.Error()})
		return append(b, note...)
	}
	return out
}

// truncate cuts s to at most n characters, so an oversized text still leaves
// a bounded trace in the audit log.
func truncate(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}
