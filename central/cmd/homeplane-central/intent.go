package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/llm"
	"github.com/homeplane/homeplane/central/internal/plugin"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/rules"
	"github.com/homeplane/homeplane/central/internal/timer"
)

// maxParseLine bounds one input line of `intent parse`: the API's request
// size limit.
const maxParseLine = 64 << 10

// parseInput is one line read by `intent parse`.
type parseInput struct {
	Text    string `json:"text"`
	Context struct {
		Area string `json:"area"`
	} `json:"context"`
}

// parseOutput is one line written by `intent parse`.
type parseOutput struct {
	Text   string         `json:"text"`
	Intent string         `json:"intent"`
	Slots  map[string]any `json:"slots"`
	Error  string         `json:"error,omitempty"`
}

// runIntent serves `homeplane-central intent parse --home FILE`: JSON lines
// of sentences on standard input, their intents and slots on standard
// output, for evaluating the parser offline.
const intentUsage = "usage: homeplane-central intent parse --home FILE < sentences.jsonl"

func runIntent(ctx context.Context, args []string, _ func(string) string, stderr io.Writer) error {
	return intentCommand(ctx, args, os.Stdin, os.Stdout, stderr)
}

func intentCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "parse" {
		return errors.New(intentUsage)
	}
	fs := flag.NewFlagSet("intent parse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	homeFile := fs.String("home", "", "the home, in the intent evaluation set's fixtures.json format (required)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *homeFile == "" {
		return errors.New("intent parse: --home is required")
	}
	f, err := os.Open(*homeFile)
	if err != nil {
		return fmt.Errorf("intent parse: %w", err)
	}
	reg, err := intent.LoadFixtures(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("intent parse: %w", err)
	}
	return parseLines(ctx, rules.New(rules.Options{MaxInputBytes: maxParseLine}), reg, stdin, stdout)
}

// parseLines parses every JSON line of in and writes one answer line per
// input line; a line that is not JSON gets an answer with an error, so that
// the output stays aligned with the input.
func parseLines(ctx context.Context, p intent.Parser, reg *intent.Index, in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 4096), maxParseLine+1)
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for line := 1; sc.Scan(); line++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(sc.Bytes()) == 0 {
			continue
		}
		var req parseInput
		res := parseOutput{Slots: map[string]any{}}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			res.Error = fmt.Sprintf("line %d: %v", line, err)
		} else {
			res.Text = req.Text
			got, err := p.Parse(ctx, req.Text, reg, intent.Context{Area: req.Context.Area})
			switch {
			case err == nil:
				res.Intent = string(got.Name)
				if got.Slots != nil {
					res.Slots = got.Slots
				}
			case !errors.Is(err, intent.ErrNoIntent):
				res.Error = err.Error()
			}
		}
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("intent parse: write: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("intent parse: a line is longer than %d bytes", maxParseLine)
		}
		return fmt.Errorf("intent parse: read: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("intent parse: write: %w", err)
	}
	return nil
}

// conversationSweeper deletes conversation turns too old to be referred
// back to; it runs until ctx ends.
type conversationSweeper interface {
	SweepConversations(ctx context.Context, before time.Time) (int64, error)
}

func sweepConversations(ctx context.Context, s conversationSweeper, ttl time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(max(ttl, time.Minute))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			n, err := s.SweepConversations(ctx, now.Add(-ttl))
			if err != nil && ctx.Err() == nil {
				logger.WarnContext(ctx, "conversation sweep failed", "err", err)
			} else if n > 0 {
				logger.DebugContext(ctx, "conversation turns swept", "count", n)
			}
		}
	}
}

// runTimerCommand carries out the sentence of a finished timer ("in five
// minutes, open the garage door") as its owner would have said it then.
func runTimerCommand(ctx context.Context, engine *intent.Engine, t timer.Timer, logger *slog.Logger) {
	if engine == nil || ctx.Err() != nil {
		return
	}
	// The command id follows the timer: however often it is carried out,
	// the home runs it once.
	req := intent.Request{RequestID: "timer-" + t.ID, CommandID: "timer-" + t.ID, HomeID: t.Owner.HomeID, Text: t.Command, Context: intent.Context{Area: t.Area}}
	if user, ok := strings.CutPrefix(t.Owner.DeviceID, "user:"); ok {
		req.UserID = user
	} else {
		req.DeviceID = t.Owner.DeviceID
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	resp, err := engine.Process(cctx, req)
	if err != nil {
		logger.WarnContext(ctx, "timer command failed", "home_id", t.Owner.HomeID, "timer_id", t.ID, "err", err)
		return
	}
	logger.InfoContext(ctx, "timer command carried out", "home_id", t.Owner.HomeID, "timer_id", t.ID,
		"intent", resp.Intent.Name, "success", resp.Success, "error_code", resp.ErrorCode)
}

// optionalParsers builds the LLM and plugin parsers the configuration asks
// for; close stops the plugin.
func optionalParsers(cfg config, logger *slog.Logger) (intent.Parsers, func(), error) {
	var ps intent.Parsers
	closeFn := func() {}
	if cfg.LLMBackend != "" {
		c, err := llm.New(llm.Backend(cfg.LLMBackend), cfg.LLMURL, cfg.LLMModel, llm.Options{
			APIKey: cfg.LLMAPIKey, Timeout: time.Duration(cfg.LLMTimeout),
		})
		if err != nil {
			return ps, closeFn, err
		}
		ps.LLM = c
	}
	if cfg.ParserPlugin != "" {
		p := plugin.New(cfg.ParserPlugin, plugin.Options{Logger: logger})
		ps.Plugin, closeFn = p, p.Close
	}
	return ps, closeFn, nil
}

// leaseHolder names this process to the leases replicas share: its
// --replica-id, so that operators see which replica holds a lease (the ids
// are unique: the broker admits one connection per id); without one (a
// single central) the host and a random part.
func leaseHolder(replicaID string) string {
	if replicaID != "" {
		return replicaID
	}
	host, _ := os.Hostname()
	if len(host) > 64 {
		host = host[:64]
	}
	return host + "-" + rand.Text()[:12]
}

// purgeIdempotencyKeys deletes expired idempotency keys every few minutes,
// so that keys of callers that never come back do not pile up.
func purgeIdempotencyKeys(ctx context.Context, s *postgres.IdempotencyStore, logger *slog.Logger) {
	tick := time.NewTicker(5 * time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			for {
				n, err := s.PurgeIdempotencyKeys(ctx, 10000)
				if err != nil && ctx.Err() == nil {
					logger.WarnContext(ctx, "idempotency key purge failed", "err", err)
				}
				if err != nil || n < 10000 {
					break
				}
			}
		}
	}
}
