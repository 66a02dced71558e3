package intent_test

import (
	"context"
	"errors"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
)

// fakeLLM answers a fixed intent (or error) and spends tokens.
type fakeLLM struct {
	in    intent.Intent
	err   error
	calls int
}

func (f *fakeLLM) Parse(ctx context.Context, _ string, _ *intent.Index, _ intent.Context) (intent.Intent, error) {
	f.calls++
	intent.TokensFrom(ctx).Add(42)
	return f.in, f.err
}

type onePipeline intent.Pipeline

func (p onePipeline) Pipeline(context.Context, string) (intent.Pipeline, error) {
	return intent.Pipeline(p), nil
}
func (p onePipeline) SetPipeline(context.Context, string, intent.Pipeline) error { return nil }

func TestEnginePipelines(t *testing.T) {
	lampOn := intent.Intent{Name: "HassTurnOn", Slots: map[string]any{"name": "Spot"}}
	tests := []struct {
		name       string
		pipeline   intent.Pipeline
		llm        *fakeLLM
		text       string
		wantParser string
		wantCode   string
		wantTokens int64
		wantCalls  int
	}{
		{name: "rules understands", pipeline: intent.PipelineRulesThenLLM, llm: &fakeLLM{in: lampOn}, text: "turn on the kitchen lights", wantParser: "rules"},
		{name: "llm after rules", pipeline: intent.PipelineRulesThenLLM, llm: &fakeLLM{in: lampOn}, text: "make it bright where the spot is", wantParser: "llm", wantTokens: 42, wantCalls: 1},
		// A command the rules read as for later is not handed to a model,
		// which could do it now.
		{name: "later stays with rules", pipeline: intent.PipelineRulesThenLLM, llm: &fakeLLM{in: lampOn}, text: "turn on the kitchen lights at 7", wantParser: "rules", wantCode: intent.CodeNoIntent},
		{name: "llm only", pipeline: intent.PipelineLLM, llm: &fakeLLM{in: lampOn}, text: "turn on the kitchen lights", wantParser: "llm", wantTokens: 42, wantCalls: 1},
		{name: "llm fails gracefully", pipeline: intent.PipelineLLM, llm: &fakeLLM{err: errors.New("model down")}, text: "turn on the kitchen lights", wantParser: "llm", wantCode: intent.CodeFailed, wantTokens: 42, wantCalls: 1},
		{name: "plugin missing falls back to rules", pipeline: intent.PipelinePlugin, llm: &fakeLLM{in: lampOn}, text: "turn on the kitchen lights", wantParser: "rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{testHome(t)}, &fakeExecutor{}, intent.Options{
				Pipelines: onePipeline(tt.pipeline), Parsers: intent.Parsers{LLM: tt.llm},
			})
			resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: tt.text})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Parser != tt.wantParser || resp.ErrorCode != tt.wantCode || resp.LLMTokens != tt.wantTokens || tt.llm.calls != tt.wantCalls {
				t.Errorf("parser %q code %q tokens %d calls %d; want %q %q %d %d (speech %q)",
					resp.Parser, resp.ErrorCode, resp.LLMTokens, tt.llm.calls, tt.wantParser, tt.wantCode, tt.wantTokens, tt.wantCalls, resp.Speech)
			}
		})
	}
}
