// Package llm adapts large language models to intent.Parser: the Ollama
// chat API and OpenAI-compatible chat completions, both asked for JSON that
// follows a schema. The prompt carries the home's entities; the answer is
// checked against the registry before it becomes an intent, so a model can
// never act on an entity, area or floor it made up.
package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// Sentinel errors.
var (
	// ErrInvalidOutput means the model answered something that is not a
	// valid intent for this home: malformed JSON, an unknown intent, or an
	// entity, area or floor the home does not have.
	ErrInvalidOutput = errors.New("invalid model output")
	// ErrBackend means the model server failed or could not be reached.
	ErrBackend = errors.New("model backend failed")
)

// Backend names the HTTP API a model server speaks.
type Backend string

// Supported backends.
const (
	Ollama Backend = "ollama"
	OpenAI Backend = "openai"
)

// Options are the Client's optional settings.
type Options struct {
	// APIKey is sent as a bearer token (OpenAI-compatible servers).
	APIKey string
	// Timeout bounds one model call; default 20s.
	Timeout time.Duration
	// MaxEntities caps the entities listed in the prompt; default 400.
	MaxEntities int
	// MaxResponseBytes bounds the server's answer; default 1 MiB.
	MaxResponseBytes int64
	// HTTPClient defaults to a client without its own timeout (Timeout
	// applies per call).
	HTTPClient *http.Client
}

// Client is an intent.Parser backed by a language model.
type Client struct {
	backend Backend
	baseURL string
	model   string
	opts    Options
}

var _ intent.Parser = (*Client)(nil)

// New returns a Client for the model server at baseURL ("http://host:11434"
// for Ollama, "https://host/v1" for OpenAI-compatible servers).
func New(backend Backend, baseURL, model string, opts Options) (*Client, error) {
	if backend != Ollama && backend != OpenAI {
		return nil, fmt.Errorf("llm: backend %q: want ollama or openai", backend)
	}
	if baseURL == "" || model == "" {
		return nil, errors.New("llm: base url and model are required")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 20 * time.Second
	}
	if opts.MaxEntities <= 0 {
		opts.MaxEntities = 400
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 1 << 20
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	return &Client{backend: backend, baseURL: strings.TrimRight(baseURL, "/"), model: model, opts: opts}, nil
}

// maxTextBytes bounds the sentence put into a prompt.
const maxTextBytes = 2048

// Parse asks the model what the sentence means and checks the answer
// against the home's registry. It records the tokens spent on ctx's
// intent.TokenCount.
func (c *Client) Parse(ctx context.Context, text string, reg *intent.Index, pc intent.Context) (intent.Intent, error) {
	text = strings.TrimSpace(text)
	if text == "" || len(text) > maxTextBytes || reg == nil {
		return intent.Intent{}, intent.ErrNoIntent
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	system := systemPrompt(reg, c.opts.MaxEntities)
	user := text
	if pc.Area != "" {
		user = fmt.Sprintf("(spoken in the %s) %s", pc.Area, text)
	}
	var content string
	var tokens int64
	var err error
	switch c.backend {
	case Ollama:
		content, tokens, err = c.ollama(ctx, system, user)
	default:
		content, tokens, err = c.openAI(ctx, system, user)
	}
	intent.TokensFrom(ctx).Add(tokens)
	if err != nil {
		return intent.Intent{}, err
	}
	in, err := decodeAnswer(content, reg, pc)
	if err != nil {
		return intent.Intent{}, err
	}
	return intent.PlaceHere(text, in, pc), nil
}

// post sends a JSON request and decodes a bounded JSON answer into out.
func (c *Client) post(ctx context.Context, url string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBackend, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.opts.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.APIKey)
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: no answer within %s: %w", ErrBackend, c.opts.Timeout, ctx.Err())
		}
		return fmt.Errorf("%w: %v", ErrBackend, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%w: read answer: %v", ErrBackend, err)
	}
	if int64(len(data)) > c.opts.MaxResponseBytes {
		return fmt.Errorf("%w: answer larger than %d bytes", ErrBackend, c.opts.MaxResponseBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: status %d: %s", ErrBackend, resp.StatusCode, snippet(data))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: undecodable answer: %v", ErrBackend, err)
	}
	return nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
