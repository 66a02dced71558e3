// Package plugin adapts out-of-process parser plugins (hashicorp/go-plugin
// over gRPC, the SDK in central/plugin/parser) to intent.Parser. A plugin
// that crashes costs the sentence in flight a clear error; the next sentence
// starts it again, and central keeps running either way.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os/exec"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	hplugin "github.com/hashicorp/go-plugin"

	pluginv1 "github.com/homeplane/homeplane/protocol/gen/homeplane/plugin/v1"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/plugin/parser"
)

// ErrUnavailable means the plugin could not be started or crashed; the
// next call starts it again.
var ErrUnavailable = errors.New("parser plugin unavailable")

// ErrInvalidOutput means the plugin answered something that is not an
// intent.
var ErrInvalidOutput = errors.New("invalid parser plugin output")

// Options are the Parser's optional settings.
type Options struct {
	Logger *slog.Logger
	// Timeout bounds one Parse call; default 5s.
	Timeout time.Duration
	// StartTimeout bounds the plugin's start; default 10s.
	StartTimeout time.Duration
	// RestartDelay is the least time between two starts, so that a plugin
	// that dies at once does not spin; default 1s.
	RestartDelay time.Duration
}

// Parser runs the plugin binary at path and asks it to parse.
type Parser struct {
	path string
	opts Options

	mu        sync.Mutex
	client    *hplugin.Client
	rpc       parser.Parser
	lastStart time.Time
	restarts  int
}

var _ intent.Parser = (*Parser)(nil)

// New returns a Parser for the plugin binary at path; the plugin starts on
// the first Parse.
func New(path string, opts Options) *Parser {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 10 * time.Second
	}
	if opts.RestartDelay <= 0 {
		opts.RestartDelay = time.Second
	}
	return &Parser{path: path, opts: opts}
}

// conn returns a live connection to the plugin, starting it when it is not
// running.
func (p *Parser) conn() (parser.Parser, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil && !p.client.Exited() {
		return p.rpc, nil
	}
	if p.client != nil {
		p.client.Kill()
		p.client, p.rpc = nil, nil
	}
	if wait := p.opts.RestartDelay - time.Since(p.lastStart); !p.lastStart.IsZero() && wait > 0 {
		return nil, fmt.Errorf("%w: restarting in %s", ErrUnavailable, wait.Round(time.Millisecond))
	}
	p.lastStart = time.Now()
	if p.restarts > 0 {
		p.opts.Logger.Warn("restarting parser plugin", "path", p.path, "restarts", p.restarts)
	}
	p.restarts++
	c := hplugin.NewClient(&hplugin.ClientConfig{
		HandshakeConfig:  parser.Handshake,
		Plugins:          parser.Plugins(nil),
		Cmd:              exec.Command(p.path),
		AllowedProtocols: []hplugin.Protocol{hplugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     p.opts.StartTimeout,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "parser-plugin", Output: io.Discard, Level: hclog.Off}),
	})
	cp, err := c.Client()
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("%w: start %s: %v", ErrUnavailable, p.path, err)
	}
	raw, err := cp.Dispense(parser.PluginName)
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("%w: dispense: %v", ErrUnavailable, err)
	}
	rpc, ok := raw.(parser.Parser)
	if !ok {
		c.Kill()
		return nil, fmt.Errorf("%w: plugin is not a parser", ErrUnavailable)
	}
	p.client, p.rpc = c, rpc
	return rpc, nil
}

// Pid is the running plugin's process id, or 0.
func (p *Parser) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil || p.client.Exited() {
		return 0
	}
	if rc := p.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Close stops the plugin.
func (p *Parser) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		p.client.Kill()
		p.client, p.rpc = nil, nil
	}
}

// Parse implements intent.Parser.
func (p *Parser) Parse(ctx context.Context, text string, reg *intent.Index, pc intent.Context) (intent.Intent, error) {
	if reg == nil {
		return intent.Intent{}, intent.ErrNoIntent
	}
	rpc, err := p.conn()
	if err != nil {
		return intent.Intent{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	// The registry's entities are packed (ADR 0054): their attributes and
	// last_changed are in the unknown fields, which marshal to the very
	// bytes the decoded fields would, so the plugin reads them as usual.
	resp, err := rpc.Parse(ctx, &pluginv1.ParseRequest{
		Text: text, Area: pc.Area, Entities: reg.Entities(), Areas: reg.Areas(), Floors: reg.Floors(),
	})
	if err != nil {
		p.mu.Lock()
		exited := p.client != nil && p.client.Exited()
		p.mu.Unlock()
		if exited {
			p.opts.Logger.Error("parser plugin crashed", "path", p.path, "err", err)
			return intent.Intent{}, fmt.Errorf("%w: the plugin exited during the call; it restarts on the next sentence", ErrUnavailable)
		}
		return intent.Intent{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if !resp.GetMatched() {
		return intent.Intent{}, intent.ErrNoIntent
	}
	name := resp.GetIntent()
	if name == "" || len(name) > 64 {
		return intent.Intent{}, fmt.Errorf("%w: matched without an intent name", ErrInvalidOutput)
	}
	slots := map[string]any{}
	for k, v := range resp.GetSlots().AsMap() {
		switch x := v.(type) {
		case string:
			if intent.IsNumberSlot(k) {
				return intent.Intent{}, fmt.Errorf("%w: slot %s must be a number", ErrInvalidOutput, k)
			}
			slots[k] = x
		case float64:
			// A number the plugin chose is bounded like a model's.
			if !intent.NumberInRange(k, x) {
				return intent.Intent{}, fmt.Errorf("%w: slot %s is out of range", ErrInvalidOutput, k)
			}
			if x == math.Trunc(x) && math.Abs(x) < 1e9 {
				slots[k] = int(x)
			} else {
				slots[k] = x
			}
		default:
			return intent.Intent{}, fmt.Errorf("%w: slot %s is neither text nor a number", ErrInvalidOutput, k)
		}
	}
	return intent.PlaceHere(text, intent.Intent{Name: intent.Name(name), Slots: slots}, pc), nil
}
