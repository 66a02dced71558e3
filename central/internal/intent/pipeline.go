package intent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Pipeline names which parsers understand a home's sentences.
type Pipeline string

// Pipelines a home can choose.
const (
	PipelineRules        Pipeline = "rules"
	PipelineLLM          Pipeline = "llm"
	PipelinePlugin       Pipeline = "plugin"
	PipelineRulesThenLLM Pipeline = "rules_then_llm"
)

// ErrUnknownPipeline is returned for a pipeline name that is not one of the
// above, or one whose parser this central does not have.
var ErrUnknownPipeline = errors.New("unknown pipeline")

// Valid reports whether p is one of the known pipelines.
func (p Pipeline) Valid() bool {
	switch p {
	case PipelineRules, PipelineLLM, PipelinePlugin, PipelineRulesThenLLM:
		return true
	}
	return false
}

// PipelineStore keeps each home's pipeline; a home without one uses rules.
type PipelineStore interface {
	Pipeline(ctx context.Context, homeID string) (Pipeline, error)
	SetPipeline(ctx context.Context, homeID string, p Pipeline) error
}

// Parsers are the parsers a pipeline can use; Rules is required, LLM and
// Plugin may be nil when not configured.
type Parsers struct {
	Rules, LLM, Plugin Parser
}

// TokenCounter is implemented by parsers that spend LLM tokens; the count is
// of the last Parse on ctx's request (see WithTokenCount).
type tokenKey struct{}

// TokenCount collects the LLM tokens spent on one request.
type TokenCount struct {
	mu sync.Mutex
	n  int64
}

// Add records n more tokens.
func (c *TokenCount) Add(n int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.n += n
	c.mu.Unlock()
}

// Total is the tokens recorded so far.
func (c *TokenCount) Total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// WithTokenCount returns a context whose LLM parsers record the tokens they
// spend into c.
func WithTokenCount(ctx context.Context, c *TokenCount) context.Context {
	return context.WithValue(ctx, tokenKey{}, c)
}

// TokensFrom returns the request's token counter, or nil.
func TokensFrom(ctx context.Context) *TokenCount {
	c, _ := ctx.Value(tokenKey{}).(*TokenCount)
	return c
}

// PipelineCache answers a home's pipeline from memory for a short while, so
// that a sentence does not cost a database round trip; SetPipeline through
// it takes effect at once on this replica and within ttl on the others.
type PipelineCache struct {
	store PipelineStore
	ttl   time.Duration
	now   func() time.Time
	mu    sync.Mutex
	homes map[string]cachedPipeline
}

type cachedPipeline struct {
	p  Pipeline
	at time.Time
}

var _ PipelineStore = (*PipelineCache)(nil)

// NewPipelineCache caches store's answers for ttl (default 10s).
func NewPipelineCache(store PipelineStore, ttl time.Duration) *PipelineCache {
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	return &PipelineCache{store: store, ttl: ttl, now: time.Now, homes: map[string]cachedPipeline{}}
}

// Pipeline implements PipelineStore.
func (c *PipelineCache) Pipeline(ctx context.Context, homeID string) (Pipeline, error) {
	c.mu.Lock()
	got, ok := c.homes[homeID]
	c.mu.Unlock()
	if ok && c.now().Sub(got.at) < c.ttl {
		return got.p, nil
	}
	p, err := c.store.Pipeline(ctx, homeID)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if len(c.homes) > 100000 {
		clear(c.homes)
	}
	c.homes[homeID] = cachedPipeline{p: p, at: c.now()}
	c.mu.Unlock()
	return p, nil
}

// SetPipeline implements PipelineStore.
func (c *PipelineCache) SetPipeline(ctx context.Context, homeID string, p Pipeline) error {
	if err := c.store.SetPipeline(ctx, homeID, p); err != nil {
		return err
	}
	c.mu.Lock()
	c.homes[homeID] = cachedPipeline{p: p, at: c.now()}
	c.mu.Unlock()
	return nil
}

// parserFor picks the parsers of a home's pipeline, in the order to try.
func (e *Engine) parserFor(ctx context.Context, homeID string) ([]namedParser, error) {
	p := PipelineRules
	if e.opts.Pipelines != nil {
		got, err := e.opts.Pipelines.Pipeline(ctx, homeID)
		if err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
		if got != "" {
			p = got
		}
	}
	rules := namedParser{e.opts.ParserName, e.parser}
	switch p {
	case PipelineRules:
		return []namedParser{rules}, nil
	case PipelineLLM:
		if e.opts.Parsers.LLM != nil {
			return []namedParser{{"llm", e.opts.Parsers.LLM}}, nil
		}
	case PipelinePlugin:
		if e.opts.Parsers.Plugin != nil {
			return []namedParser{{"plugin", e.opts.Parsers.Plugin}}, nil
		}
	case PipelineRulesThenLLM:
		if e.opts.Parsers.LLM != nil {
			return []namedParser{rules, {"llm", e.opts.Parsers.LLM}}, nil
		}
	}
	// A pipeline whose parser this replica lacks falls back to the rules,
	// which always work offline.
	e.log.WarnContext(ctx, "pipeline parser not configured; using rules", "home_id", homeID, "pipeline", p)
	return []namedParser{rules}, nil
}

type namedParser struct {
	name string
	p    Parser
}
