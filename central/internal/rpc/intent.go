package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/intent"
)

// DefaultLanguage is the language of a request that names none.
const DefaultLanguage = "en"

// Audit outcomes written by Process.
const (
	outcomeOK       = "ok"       // the engine answered with success
	outcomeFailed   = "failed"   // the engine answered, without success (error_code says why)
	outcomeError    = "error"    // the engine returned an error
	outcomeRejected = "rejected" // refused before the engine: bad input or not the caller's home
	outcomeRefused  = "refused"  // the engine would not act: unknown names or the home's policy
	outcomeReplayed = "replayed" // answered from an earlier call with the same idempotency key
)

// auditKindIntent is the audit record kind of a Process call.
const auditKindIntent = "intent"

// intentService serves IntentService.
type intentService struct {
	s *server
}

var _ homeplanev1connect.IntentServiceHandler = (*intentService)(nil)

// Process understands one sentence for a home. A device token fixes the home
// and supplies the area; a user token must name one of the user's homes. An
// audit record is committed for every call that got past authentication,
// successful or not, before the call returns.
func (i *intentService) Process(ctx context.Context, req *connect.Request[homeplanev1.ProcessRequest]) (*connect.Response[homeplanev1.ProcessResponse], error) {
	start := i.s.now()
	caller, ok := CallerFrom(ctx)
	if !ok {
		return nil, connect.NewError(connect.CodePermissionDenied, errDenied)
	}
	m := req.Msg
	rec := audit.Record{
		RequestID: RequestID(ctx),
		Kind:      auditKindIntent,
		UserID:    caller.UserID,
		DeviceID:  caller.DeviceID,
		Text:      truncate(m.GetText(), maxTextChars),
		Time:      start,
	}

	scope := callerScope(caller)
	ireq, err := i.request(ctx, caller, m)
	var key string
	if err == nil {
		key, err = requestKey(req.Header(), m.GetIdempotencyKey())
		ireq.CommandID = commandIDFor(scope, key)
	}
	if err != nil {
		rec.Outcome, rec.Error = outcomeRejected, err.Error()
		return nil, i.audited(ctx, rec, start, err)
	}
	rec.HomeID = ireq.HomeID
	if key == "" || i.s.deps.Idempotency == nil {
		out, err := i.process(ctx, rec, start, ireq)
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(out), nil
	}
	out := new(homeplanev1.ProcessResponse)
	_, ran, err := i.s.once(ctx, scope, key, m, out, func(ctx context.Context) (proto.Message, error) {
		return i.process(ctx, rec, start, ireq)
	})
	if !ran {
		// The first call left its own record; this one says it was answered
		// from it, or why not.
		rec.Outcome = outcomeReplayed
		if err != nil {
			rec.Outcome, rec.Error = outcomeRejected, err.Error()
		}
		if aerr := i.audited(ctx, rec, start, nil); aerr != nil {
			return nil, aerr
		}
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(out), nil
}

// process runs one checked request through the engine and commits its
// audit record.
func (i *intentService) process(ctx context.Context, rec audit.Record, start time.Time, ireq intent.Request) (*homeplanev1.ProcessResponse, error) {
	resp, err := i.s.deps.Intents.Process(ctx, ireq)
	rec.Intent, rec.Slots, rec.Parser = resp.Intent.Name, resp.Intent.Slots, resp.Parser
	rec.LLMTokens = int(resp.LLMTokens)
	rec.ParseUS, rec.ResolveUS, rec.ExecuteUS = resp.ParseDur.Microseconds(), resp.ResolveDur.Microseconds(), resp.ExecuteDur.Microseconds()
	rec.Executed, rec.Answer = auditJSON(resp.Executed, resp.Result)
	switch {
	case err != nil:
		rec.Outcome, rec.Error = outcomeError, err.Error()
		return nil, i.audited(ctx, rec, start, err)
	case resp.ErrorCode == intent.CodeRefused:
		rec.Outcome, rec.Error = outcomeRefused, "sensitive action not allowed by the home's policy"
		if resp.Unknown != "" {
			rec.Error = "unknown: " + resp.Unknown
		}
	case !resp.Success:
		rec.Outcome, rec.Error = outcomeFailed, resp.ErrorCode
	default:
		rec.Outcome = outcomeOK
	}
	if err := i.audited(ctx, rec, start, nil); err != nil {
		return nil, err
	}
	return &homeplanev1.ProcessResponse{
		Speech:         resp.Speech,
		Intent:         &homeplanev1.Intent{Name: resp.Intent.Name, Slots: slotsProto(resp.Intent.Slots)},
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
	c.field("conversation_id", m.GetConversationId(), false, maxIDChars)
	c.field("language", m.GetLanguage(), false, maxLanguageChars)
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

// audited commits rec and returns callErr, or the audit failure when the
// record could not be committed: no answer leaves without its record. The
// audit gets its own deadline so a caller that hung up still leaves a trace.
func (i *intentService) audited(ctx context.Context, rec audit.Record, start time.Time, callErr error) error {
	rec.TotalUS = i.s.now().Sub(start).Microseconds()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	i.s.log.InfoContext(ctx, "intent processed", requestIDAttr, rec.RequestID, "home_id", rec.HomeID,
		"device_id", rec.DeviceID, "intent", rec.Intent, "outcome", rec.Outcome, "total_us", rec.TotalUS)
	if err := i.s.deps.Auditor.Write(actx, rec); err != nil {
		// %v, not %w: whatever the cause, the caller sees Internal, and
		// mapError logs the cause once.
		return fmt.Errorf("%w: %v", errAudit, err)
	}
	return callErr
}

// auditJSON renders what was executed and answered in the protobuf JSON
// mapping, which the audit log stores as is; encoding/json would spell the
// generated structs' internals instead.
func auditJSON(executed []*homeplanev1.ServiceCall, result *homeplanev1.Result) (any, any) {
	var ex, ans any
	if len(executed) > 0 {
		calls := make([]json.RawMessage, 0, len(executed))
		for _, c := range executed {
			b, err := auditJSONOptions.Marshal(c)
			if err != nil {
				b, _ = json.Marshal(map[string]string{"unencodable": err.Error()})
			}
			calls = append(calls, b)
		}
		ex = calls
	}
	if result != nil {
		b, err := auditJSONOptions.Marshal(result)
		if err != nil {
			b, _ = json.Marshal(map[string]string{"unencodable": err.Error()})
		}
		ans = json.RawMessage(b)
	}
	return ex, ans
}

var auditJSONOptions = protojson.MarshalOptions{UseProtoNames: true}

// auditTimeout bounds the wait for an audit commit.
const auditTimeout = 5 * time.Second

var errAudit = errors.New("audit record not committed")

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
