package intent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// Options are the Engine's optional settings.
type Options struct {
	Logger *slog.Logger
	// Registerer receives homeplane_central_intent_stage_seconds{stage}.
	Registerer prometheus.Registerer
	// CommandTimeout bounds one command to a home; default 10s.
	CommandTimeout time.Duration
	// ParserName is reported in Response.Parser for NewEngine's own
	// parser; default "rules".
	ParserName string
	// Now tells the time for the date and time intents; default time.Now.
	Now func() time.Time
	// Conversations keeps recent turns for follow-ups ("turn it off");
	// default an in-memory store of this process.
	Conversations ConversationStore
	// ContextWindow is how many recent turns of a conversation are kept;
	// default 5.
	ContextWindow int
	// ContextTTL is how long a turn can be referred back to; default 5m.
	ContextTTL time.Duration
	// Timers runs the timer intents; without it they are answered as not
	// supported.
	Timers Timers
	// Pipelines tells each home's pipeline; without it every home uses the
	// rules.
	Pipelines PipelineStore
	// Parsers are the LLM and plugin parsers pipelines can use (the rules
	// parser is NewEngine's).
	Parsers Parsers
	// Policies tells each home's policy for sensitive actions from voice
	// devices; without it they are allowed.
	Policies SensitivePolicies
}

// Engine processes sentences: parse → resolve → execute → answer.
type Engine struct {
	parser Parser
	regs   IndexSource
	exec   Executor
	log    *slog.Logger
	stage  *prometheus.HistogramVec
	opts   Options
}

// NewEngine builds an engine from a parser, the homes' registries and an
// executor that reaches the homes.
func NewEngine(p Parser, regs IndexSource, exec Executor, opts Options) *Engine {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 10 * time.Second
	}
	if opts.ParserName == "" {
		opts.ParserName = "rules"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Conversations == nil {
		opts.Conversations = NewMemoryConversations(0)
	}
	if opts.ContextWindow <= 0 {
		opts.ContextWindow = 5
	}
	if opts.ContextTTL <= 0 {
		opts.ContextTTL = 5 * time.Minute
	}
	stage := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "homeplane_central_intent_stage_seconds",
		Help:    "Time spent in each intent engine stage (registry, parse, resolve, context, execute, answer).",
		Buckets: []float64{.00001, .00005, .0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 10},
	}, []string{"stage"})
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(stage); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if existing, ok := are.ExistingCollector.(*prometheus.HistogramVec); ok {
					stage = existing
				}
			} else {
				opts.Logger.Warn("intent metrics not registered", "err", err)
			}
		}
	}
	return &Engine{parser: p, regs: regs, exec: exec, log: opts.Logger, stage: stage, opts: opts}
}

// Process understands one sentence, acts on the home and answers. Not
// understanding, finding nothing, or an offline home are answers with
// Success false; the error is only for internal failures.
func (e *Engine) Process(ctx context.Context, req Request) (Response, error) {
	resp := Response{Parser: e.opts.ParserName, ConversationID: req.ConversationID}
	if resp.ConversationID == "" {
		resp.ConversationID = newID()
	}
	t0 := time.Now()
	reg, err := e.regs.Index(ctx, req.HomeID)
	if err != nil {
		return resp, fmt.Errorf("home registry: %w", err)
	}
	e.stage.WithLabelValues("registry").Observe(time.Since(t0).Seconds())
	req.Context = reg.Here(req.Context)

	if t, ok := e.pendingAction(ctx, req); ok {
		return e.confirmed(ctx, req, reg, t, resp)
	}
	if t, idx, ok := e.choice(ctx, req, reg); ok {
		return e.chosen(ctx, req, reg, t, idx, resp)
	}
	if r, ok := e.declined(ctx, req, resp); ok {
		return r, nil
	}
	// about are the entities a sentence that refers back may act on: the
	// option it picked, or what the turn before was about.
	var about []string
	if text, ids, ok := e.choiceCommand(ctx, req, reg); ok {
		req.Text, about = text, ids
	}
	if parts := splitActions(req.Text); len(parts) > 1 {
		return e.several(ctx, req, reg, parts, false, resp)
	}

	parsers, err := e.parserFor(ctx, req.HomeID)
	if err != nil {
		return resp, err
	}
	tokens := &TokenCount{}
	t0 = time.Now()
	in, name, referred, guessed, err := e.parse(WithTokenCount(ctx, tokens), parsers, req, reg)
	resp.ParseDur = time.Since(t0)
	resp.Parser, resp.LLMTokens = name, tokens.Total()
	e.stage.WithLabelValues("parse").Observe(resp.ParseDur.Seconds())
	if referred != nil {
		about = referred
	}
	if _, ok := asUnknown(err); ok && about != nil || errors.Is(err, errCannot) {
		// "turn it off" said of a sensor names nothing unknown: what it
		// refers to cannot do it.
		resp.ErrorCode, resp.Speech = CodeNoMatch, cannotSpeech(reg, about)
		return resp, nil
	}
	if u, ok := asUnknown(err); ok {
		// Understood what to do but not everything it names: acting on
		// the rest would act on what nobody asked for.
		resp.Intent, resp.ErrorCode, resp.Speech, resp.Unknown = u.Intent, CodeRefused, u.Speech(), u.Words
		return resp, nil
	}
	if st, ok := asSeveral(err); ok {
		return e.severalTargets(ctx, req, reg, st, resp)
	}
	if w, ok := asWhichPart(err); ok {
		resp.Intent, resp.ErrorCode, resp.Speech = w.in, CodeAmbiguous, w.speech()
		asked := Turn{Intent: w.in, Options: make([][]string, 0, len(w.parts))}
		for _, p := range w.parts {
			asked.Options = append(asked.Options, p.Targets)
		}
		e.remember(ctx, req, resp.ConversationID, asked, reg, nil)
		return resp, nil
	}
	if errors.Is(err, ErrNoIntent) {
		resp.ErrorCode = CodeNoIntent
		resp.Speech = "Sorry, I couldn't understand that"
		if errors.Is(err, ErrLater) {
			resp.Speech = "Sorry, I can't do that at a later time"
		}
		return resp, nil
	}
	if err != nil && name != e.opts.ParserName && ctx.Err() == nil {
		// A model or plugin that fails, times out or answers nonsense is
		// an answer, not an outage of central.
		e.log.WarnContext(ctx, "parser failed", "request_id", req.RequestID, "parser", name, "err", err)
		resp.ErrorCode = CodeFailed
		resp.Speech = "Sorry, I couldn't understand that right now"
		return resp, nil
	}
	if err != nil {
		return resp, fmt.Errorf("parse: %w", err)
	}
	resp.Intent = in

	row := entry(in.Name)
	switch row.Kind {
	case KindTimer:
		resp.Speech, resp.ErrorCode = e.timer(req, in)
		resp.Success = resp.ErrorCode == ""
		return resp, nil
	case KindLocal:
		resp.Speech, resp.Success = row.local(e.opts.Now(), req.Text), true
		return resp, nil
	}

	t1 := time.Now()
	targets, fail := e.targets(reg, in, req.Context)
	resp.ResolveDur = time.Since(t1)
	e.stage.WithLabelValues("resolve").Observe(resp.ResolveDur.Seconds())
	if about != nil && row.Target && (fail != nil || !within(reg, targets, about)) {
		// A sentence that refers back acts on what it refers to or on
		// nothing: read with that thing's name, it may find another
		// device of the place or a device of a like name.
		resp.ErrorCode, resp.Speech = CodeNoMatch, cannotSpeech(reg, about)
		return resp, nil
	}
	if fail != nil {
		resp.ErrorCode, resp.Speech, resp.Unknown = fail.code, fail.speech, fail.unknown
		if fail.code == CodeAmbiguous && row.Target {
			// The answer to "which one?" names the player, place or
			// device, and is read against what was asked.
			asked := Turn{Intent: in, Targets: entityIDs(reg, fail.matches), Matches: len(fail.matches) > 1}
			for _, o := range fail.options {
				asked.Options = append(asked.Options, entityIDs(reg, o))
			}
			e.remember(ctx, req, resp.ConversationID, asked, reg, nil)
		}
		return resp, nil
	}

	// The context turn is stored while the request goes on (an action's
	// round trip to the home takes as long as the write), and is stored
	// before the answer leaves, so a follow-up always finds it: here, or
	// where DeferTurnWait says.
	remembered := func() {}
	if row.Target && len(targets) > 0 {
		done, conv := make(chan struct{}), resp.ConversationID
		go func() {
			defer close(done)
			t2 := time.Now()
			e.remember(ctx, req, conv, Turn{Intent: in}, reg, targets)
			e.stage.WithLabelValues("context").Observe(time.Since(t2).Seconds())
		}()
		remembered = func() { <-done }
		if !HandTurnWait(ctx, remembered) {
			defer remembered()
		}
	}

	if row.Kind == KindQuery {
		return e.answer(reg, in, req.Text, targets, resp), nil
	}

	calls, acted, err := buildCalls(reg, in, targets)
	if err != nil {
		return resp, err
	}
	if len(calls) == 0 {
		resp.ErrorCode = CodeNoMatch
		resp.Speech = "Sorry, none of those devices can do that"
		return resp, nil
	}
	if len(sensitiveTargets(reg, calls)) > 0 {
		// A pending confirmation must be the conversation's newest turn.
		remembered()
	}
	if ok, err := e.sensitiveGate(ctx, req, reg, in, acted, calls, guessed, &resp); !ok || err != nil {
		return resp, err
	}
	return e.act(ctx, req, reg, in, calls, acted, resp)
}

// answer answers a question about the targets.
func (e *Engine) answer(reg *Index, in Intent, text string, targets []int, resp Response) Response {
	t0 := time.Now()
	resp.Targets = targetList(reg, targets, nil)
	speech, fail := entry(in.Name).answer(reg, in, text, targets)
	if fail != nil {
		resp.ErrorCode, resp.Speech = fail.code, fail.speech
		return resp
	}
	resp.Speech, resp.Success = speech, true
	e.stage.WithLabelValues("answer").Observe(time.Since(t0).Seconds())
	return resp
}

// confirmed runs a sensitive action the device has just said yes to, on
// the entities it was asked for that the home still has.
func (e *Engine) confirmed(ctx context.Context, req Request, reg *Index, t Turn, resp Response) (Response, error) {
	resp.Intent = t.Intent
	var idx []int
	for _, id := range t.Targets {
		if i, ok := reg.entityByID[id]; ok {
			idx = append(idx, i)
		}
	}
	calls, acted, err := buildCalls(reg, t.Intent, idx)
	if err != nil {
		return resp, err
	}
	if len(calls) == 0 {
		resp.ErrorCode, resp.Speech = CodeNoMatch, "Sorry, none of those devices can do that"
		return resp, nil
	}
	return e.act(ctx, req, reg, t.Intent, calls, acted, resp)
}

// act executes the calls and answers.
func (e *Engine) act(ctx context.Context, req Request, reg *Index, in Intent, calls []*homeplanev1.ServiceCall, acted []int, resp Response) (Response, error) {
	resp.Executed = calls
	resp.Targets = targetList(reg, acted, nil)

	t2 := time.Now()
	res, err := e.execute(ctx, req, calls)
	resp.ExecuteDur = time.Since(t2)
	e.stage.WithLabelValues("execute").Observe(resp.ExecuteDur.Seconds())
	switch {
	case errors.Is(err, ErrHomeOffline):
		resp.ErrorCode, resp.Speech = CodeHomeOffline, "Your home is offline right now"
		return resp, nil
	case errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		resp.ErrorCode, resp.Speech = CodeTimeout, "Your home did not answer in time"
		return resp, nil
	case err != nil:
		return resp, fmt.Errorf("execute: %w", err)
	}
	resp.Result = res

	t3 := time.Now()
	resp.Targets = targetList(reg, acted, res.GetChanged())
	if !res.GetOk() {
		resp.ErrorCode = CodeFailed
		resp.Speech = "Sorry, Home Assistant could not do that"
		e.log.InfoContext(ctx, "command failed", "request_id", req.RequestID, "error_code", res.GetErrorCode(), "error", res.GetError())
	} else {
		resp.Success = true
		resp.Speech = actionSpeech(reg, in, acted)
	}
	e.stage.WithLabelValues("answer").Observe(time.Since(t3).Seconds())
	return resp, nil
}

// targets resolves the intent's slots; intents about the shopping list
// look up its list entity. here is where the voice device stands.
func (e *Engine) targets(reg *Index, in Intent, here Context) ([]int, *failure) {
	row := entry(in.Name)
	if in.Here && here.Area == "" && here.AreaID == "" {
		// "the lights in here" from a device in no room is no wish to
		// light the whole home.
		return nil, &failure{code: CodeNoMatch, speech: "Sorry, I don't know which room this device is in"}
	}
	if row.list {
		if ids := reg.EntitiesNamed("shopping list"); len(ids) > 0 {
			return ids[:1], nil
		}
		if i, ok := reg.entityByID["todo.shopping_list"]; ok {
			return []int{i}, nil
		}
		return nil, &failure{code: CodeNoMatch, speech: "Sorry, there is no shopping list in this home"}
	}
	if row.Kind != KindAction && row.Kind != KindQuery {
		return nil, &failure{code: CodeFailed, speech: "Sorry, I can't do that yet"}
	}
	idx, fail := resolve(reg, in)
	if fail != nil && fail.code == CodeAmbiguous {
		if mine, ok := inRoom(reg, in, fail, here); ok {
			return mine, nil
		}
	}
	return idx, fail
}

// inRoom narrows an ambiguous match to the voice device's own room, as
// Home Assistant prefers the satellite's area: "turn on the ceiling light"
// said in the master bedroom is its Ceiling Light, not one of every room's,
// and "the lights in the bedroom" said in one of two Bedrooms are that
// room's. It reports false unless here is one room (by its id, else by a
// name only it carries) and, for a name, exactly one of the matches stands
// in it.
func inRoom(reg *Index, in Intent, fail *failure, here Context) ([]int, bool) {
	id := here.AreaID
	if id == "" {
		rooms := reg.AreasNamed(here.Area)
		if here.Area == "" || len(rooms) != 1 {
			return nil, false
		}
		id = rooms[0].GetId()
	}
	if area := in.Slot("area"); area != "" && reg.AreaShared(area) {
		// The options are the rooms of the shared name, one each.
		for _, o := range fail.options {
			if len(o) > 0 && reg.entities[o[0]].GetAreaId() == id {
				return o, true
			}
		}
		return nil, false
	}
	found := -1
	for _, i := range fail.matches {
		if reg.entities[i].GetAreaId() != id {
			continue
		}
		if found >= 0 {
			return nil, false
		}
		found = i
	}
	if found < 0 {
		return nil, false
	}
	return []int{found}, true
}

func (e *Engine) execute(ctx context.Context, req Request, calls []*homeplanev1.ServiceCall) (*homeplanev1.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.CommandTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	id := req.CommandID
	if id == "" {
		id = newID()
	}
	cmd := &homeplanev1.Command{
		Id:        id,
		RequestId: req.RequestID,
		Deadline:  timestamppb.New(deadline),
		Calls:     calls,
	}
	res, err := e.exec.Execute(ctx, req.HomeID, cmd)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, errors.New("executor returned no result")
	}
	return res, nil
}

func targetList(reg *Index, idx []int, changed []*homeplanev1.Entity) []Target {
	out := make([]Target, 0, len(idx))
	for _, i := range idx {
		ent := reg.entities[i]
		state := ent.GetState()
		for _, c := range changed {
			if c.GetEntityId() == ent.GetEntityId() {
				state = c.GetState()
			}
		}
		out = append(out, Target{
			EntityID: ent.GetEntityId(),
			Name:     ent.GetName(),
			Area:     reg.entityAreaName(i),
			Domain:   ent.GetDomain(),
			State:    state,
		})
	}
	return out
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// parse understands the sentence, reading follow-ups ("turn it off", "and
// in the bedroom") against the conversation's previous turn. referred are
// the entities of that turn when the sentence refers to them by a pronoun.
func (e *Engine) parse(ctx context.Context, parsers []namedParser, req Request, reg *Index) (_ Intent, _ string, referred []string, guessed bool, _ error) {
	in, name, err := parseWith(ctx, parsers, req.Text, reg, req.Context)
	if err != nil && (!errors.Is(err, ErrNoIntent) || errors.Is(err, ErrLater)) {
		return in, name, nil, false, err
	}
	toks := strings.Fields(Normalize(req.Text))
	// "do the same for the front door" repeats the last action; read on
	// its own it only names the front door.
	same := sameFor(toks)
	concrete := err == nil && (!NeedsTarget(in.Name) || in.Slot("name") != "")
	if concrete && !same || req.ConversationID == "" {
		return in, name, nil, false, err
	}
	if len(toks) == 0 || len(toks) > 16 {
		return in, name, nil, false, err
	}
	turns, herr := e.lastTurn(ctx, req)
	if herr != nil {
		// Without history the sentence is still answered on its own.
		e.log.WarnContext(ctx, "conversation history unavailable", "request_id", req.RequestID, "err", herr)
		return in, name, nil, false, err
	}
	if len(turns) == 0 {
		return in, name, nil, false, err
	}
	if parts := turns[0].Parts; len(parts) > 1 {
		if f, fname, ferr, ok := listReference(ctx, parsers, toks, reg, req.Context, parts); ok {
			return f, fname, nil, false, ferr
		}
	}
	last := turns[0].Intent
	if hasPronoun(toks) {
		if !opensWhat(toks, reg, turns[0].Targets) {
			// "open it" said after a light means the door of the place,
			// not the light: nothing it refers to opens.
			return in, name, turns[0].Targets, false, errCannot
		}
		if text, ok := withReference(toks, last); ok {
			f, fname, ferr := parseWith(ctx, parsers, text, reg, req.Context)
			if ferr == nil {
				return f, fname, turns[0].Targets, false, nil
			}
			if _, unknown := asUnknown(ferr); unknown && len(turns[0].Targets) > 0 {
				return f, fname, turns[0].Targets, false, ferr
			}
		}
	}
	if err != nil || same {
		if f, guessed, ok := retarget(toks, reg, req.Context, last, turns[0].Targets, len(turns[0].Options) > 0 || turns[0].Matches); ok {
			return f, name, nil, guessed, nil
		}
	}
	if same {
		return Intent{}, name, nil, false, ErrNoIntent
	}
	return in, name, nil, false, err
}

// parseWith tries the parsers in order until one understands the text.
func parseWith(ctx context.Context, parsers []namedParser, text string, reg *Index, pc Context) (Intent, string, error) {
	var in Intent
	err := ErrNoIntent
	name := ""
	for _, p := range parsers {
		name = p.name
		in, err = p.p.Parse(ctx, text, reg, pc)
		if !errors.Is(err, ErrNoIntent) || errors.Is(err, ErrLater) {
			break
		}
	}
	return in, name, err
}

type turnWaitKey struct{}

// DeferTurnWait returns a context under which Process does not wait for the
// context turn it stores beside an action before returning, but hands the
// wait to hold. The caller must run every wait it is handed before the
// answer leaves, so that a follow-up still finds the turn; what it does in
// between (central commits the audit record) overlaps the turn's write.
func DeferTurnWait(ctx context.Context, hold func(wait func())) context.Context {
	return context.WithValue(ctx, turnWaitKey{}, hold)
}

// HandTurnWait gives wait to the hold DeferTurnWait put in ctx, and reports
// false when there is none: the caller then waits itself.
func HandTurnWait(ctx context.Context, wait func()) bool {
	hold, ok := ctx.Value(turnWaitKey{}).(func(func()))
	if ok {
		hold(wait)
	}
	return ok
}

// remember stores an understood turn about targets; losing it only costs
// a follow-up.
func (e *Engine) remember(ctx context.Context, req Request, conversationID string, t Turn, reg *Index, targets []int) {
	if len(targets) > 0 {
		t.Targets = entityIDs(reg, targets)
	}
	t.At, t.Device = e.opts.Now(), req.DeviceID
	if err := e.opts.Conversations.AddContextTurn(ctx, req.HomeID, conversationID, t, e.opts.ContextWindow); err != nil {
		e.log.WarnContext(ctx, "conversation turn not stored", "request_id", req.RequestID, "err", err)
	}
}

// timer hands a timer intent to the device's timers.
func (e *Engine) timer(req Request, in Intent) (speech, code string) {
	owner := req.DeviceID
	if owner == "" && req.UserID != "" {
		owner = UserTimerOwner(req.UserID)
	}
	if e.opts.Timers == nil || owner == "" {
		return "Sorry, timers are not supported on this device", CodeFailed
	}
	speech, err := e.opts.Timers.Handle(TimerRequest{HomeID: req.HomeID, Owner: owner, Area: req.Context.Area}, in)
	if err != nil {
		if speech == "" {
			speech = "Sorry, I couldn't do that with your timers"
		}
		return speech, CodeNoMatch
	}
	return speech, ""
}

// UserTimerOwner is the owner of the timers a user sets without a voice
// device (homectl, an app).
func UserTimerOwner(userID string) string { return "user:" + userID }
