package main

import (
	"context"
	"strings"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rpc/rpctest"
)

// stored is the pipeline central's store holds for the home.

func stored(t testing.TB, p *rpctest.Pipelines, homeID string) intent.Pipeline {
	t.Helper()
	got, err := p.Pipeline(context.Background(), homeID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPipelineCommands(t *testing.T) {
	c := newCLI(t)
	c.signup("gil@example.com", "gil-password")
	var created struct{ Home struct{ ID string } }
	decode(t, c.ok("homes", "create", "Cabin", "--json"), &created)
	homeID := created.Home.ID

	out := c.ok("pipeline")
	if lines := strings.Fields(out); len(lines) != 4 || lines[1] != "PIPELINE" || lines[2] != homeID || lines[3] != "rules" {
		t.Errorf("pipeline table:\n%s", out)
	}

	// Every name homectl offers is the pipeline central keeps by that name.
	for _, name := range []string{"rules", "llm", "plugin", "rules_then_llm"} {
		if out := c.ok("pipeline", "set", name, "--home", homeID); out != "Home "+homeID+" now uses the "+name+" pipeline\n" {
			t.Errorf("set %s said %q", name, out)
		}
		if got := stored(t, c.pipelines, homeID); got != intent.Pipeline(name) {
			t.Errorf("set %s: central keeps %q", name, got)
		}
		var shown struct{ Pipeline string }
		decode(t, c.ok("pipeline", "show", "--json"), &shown)
		if want := "PIPELINE_" + strings.ToUpper(name); shown.Pipeline != want {
			t.Errorf("set %s: show --json = %q, want %q", name, shown.Pipeline, want)
		}
	}

	c.fails(exitUsage, "choose rules, llm, plugin, rules_then_llm", "pipeline", "set", "fast")
	c.fails(exitUsage, "choose rules", "pipeline", "set", "PIPELINE_LLM")
	if got := stored(t, c.pipelines, homeID); got != intent.PipelineRulesThenLLM {
		t.Errorf("a refused name changed the pipeline to %q", got)
	}
	c.fails(exitUsage, "takes one of rules, llm", "pipeline", "set")
	c.fails(exitUsage, "unknown pipeline command", "pipeline", "swap")
	c.fails(exitError, "not_found", "pipeline", "--home", "home-999")
}
