package intent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
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
	// ParserName is reported in Response.Parser; default "rules".
	ParserName string
	// Now tells the time for the date and time intents; default time.Now.
	Now func() time.Time
}

// Engine processes sentences: parse → resolve → execute → answer.
type Engine struct {
	parser Parser
	regs   RegistrySource
	exec   Executor
	log    *slog.Logger
	stage  *prometheus.HistogramVec
	opts   Options
}

// NewEngine builds an engine from a parser, the homes' registries and an
// executor that reaches the homes.
func NewEngine(p Parser, regs RegistrySource, exec Executor, opts Options) *Engine {
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
	stage := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "homeplane_central_intent_stage_seconds",
		Help:    "Time spent in each intent engine stage (parse, resolve, execute, answer).",
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
	resp := Response{Parser: e.opts.ParserName}
	reg, err := e.regs.Registry(ctx, req.HomeID)
	if err != nil {
		return resp, fmt.Errorf("home registry: %w", err)
	}

	t0 := time.Now()
	in, err := e.parser.Parse(ctx, req.Text, reg, req.Context)
	resp.ParseDur = time.Since(t0)
	e.stage.WithLabelValues("parse").Observe(resp.ParseDur.Seconds())
	if errors.Is(err, ErrNoIntent) {
		resp.ErrorCode = CodeNoIntent
		resp.Speech = "Sorry, I couldn't understand that"
		return resp, nil
	}
	if err != nil {
		return resp, fmt.Errorf("parse: %w", err)
	}
	resp.Intent = in

	if speech, ok := e.answerLocally(in, req.Text); ok {
		resp.Speech, resp.Success = speech, true
		return resp, nil
	}

	t1 := time.Now()
	targets, fail := e.targets(reg, in)
	resp.ResolveDur = time.Since(t1)
	e.stage.WithLabelValues("resolve").Observe(resp.ResolveDur.Seconds())
	if fail != nil {
		resp.ErrorCode, resp.Speech = fail.code, fail.speech
		return resp, nil
	}

	if isQuery(in.Name) {
		t3 := time.Now()
		resp.Targets = targetList(reg, targets, nil)
		switch in.Name {
		case "HassGetState":
			resp.Speech = stateSpeech(reg, in, req.Text, targets)
		case "HassClimateGetTemperature":
			s, ok := temperatureSpeech(reg, targets)
			if !ok {
				resp.ErrorCode, resp.Speech = CodeNoMatch, "Sorry, I don't know the temperature there"
				return resp, nil
			}
			resp.Speech = s
		case "HassGetWeather":
			resp.Speech = weatherSpeech(reg.entities[targets[0]])
		}
		resp.Success = true
		e.stage.WithLabelValues("answer").Observe(time.Since(t3).Seconds())
		return resp, nil
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

// targets resolves the intent's slots; intents about lists or the shopping
// list look up their list entity.
func (e *Engine) targets(reg *Registry, in Intent) ([]int, *failure) {
	switch in.Name {
	case "HassShoppingListAddItem", "HassShoppingListCompleteItem":
		if ids := reg.EntitiesNamed("shopping list"); len(ids) > 0 {
			return ids[:1], nil
		}
		if i, ok := reg.entityByID["todo.shopping_list"]; ok {
			return []int{i}, nil
		}
		return nil, &failure{CodeNoMatch, "Sorry, there is no shopping list in this home"}
	case "HassStartTimer", "HassCancelTimer", "HassCancelAllTimers", "HassIncreaseTimer",
		"HassDecreaseTimer", "HassPauseTimer", "HassUnpauseTimer", "HassTimerStatus":
		return nil, &failure{CodeFailed, "Sorry, timers are not supported on this device"}
	}
	if _, known := intentDomains[in.Name]; !known && in.Name != "HassGetState" {
		return nil, &failure{CodeFailed, "Sorry, I can't do that yet"}
	}
	return resolve(reg, in)
}

func (e *Engine) answerLocally(in Intent, text string) (string, bool) {
	switch in.Name {
	case "HassGetCurrentTime":
		return timeSpeech(e.opts.Now()), true
	case "HassGetCurrentDate":
		return dateSpeech(e.opts.Now()), true
	case "HassNevermind":
		return "", true
	case "HassRespond":
		return respondSpeech(text), true
	}
	return "", false
}

func (e *Engine) execute(ctx context.Context, req Request, calls []*homeplanev1.ServiceCall) (*homeplanev1.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.CommandTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	cmd := &homeplanev1.Command{
		Id:        newID(),
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

func targetList(reg *Registry, idx []int, changed []*homeplanev1.Entity) []Target {
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
			Area:     reg.AreaName(ent.GetAreaId()),
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
