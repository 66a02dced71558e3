package main

import (
	"context"
	"fmt"
	"strings"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// pipelineName is the name homectl uses for p: the proto's, lowercased and
// without its prefix ("rules_then_llm").
func pipelineName(p homeplanev1.Pipeline) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "PIPELINE_"))
}

// pipelines are the pipelines a home can choose, in the proto's order, so
// one added there is offered here too.
func pipelines() []homeplanev1.Pipeline {
	values := homeplanev1.Pipeline(0).Descriptor().Values()
	var out []homeplanev1.Pipeline
	for i := range values.Len() {
		if p := homeplanev1.Pipeline(values.Get(i).Number()); p != homeplanev1.Pipeline_PIPELINE_UNSPECIFIED {
			out = append(out, p)
		}
	}
	return out
}

// pipelineChoices lists the names pipeline set takes.
func pipelineChoices() string {
	var names []string
	for _, p := range pipelines() {
		names = append(names, pipelineName(p))
	}
	return strings.Join(names, ", ")
}

// parsePipeline turns a name from the command line into a pipeline.
func parsePipeline(name string) (homeplanev1.Pipeline, error) {
	for _, p := range pipelines() {
		if pipelineName(p) == name {
			return p, nil
		}
	}
	return 0, usagef("unknown pipeline %q: choose %s", name, pipelineChoices())
}

// pipeline runs "pipeline [show]" and "pipeline set NAME".
func (a *app) pipeline(ctx context.Context, args []string) error {
	fs := a.flags("pipeline")
	homeID := homeFlag(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	name, err := showOrSet("pipeline", pos, pipelineChoices())
	if err != nil {
		return err
	}
	var want homeplanev1.Pipeline
	if name != "" {
		if want, err = parsePipeline(name); err != nil {
			return err
		}
	}
	c, home, err := a.userHome(ctx, *homeID)
	if err != nil {
		return err
	}
	if name != "" {
		resp, err := c.intent.SetPipeline(ctx, connect.NewRequest(&homeplanev1.SetPipelineRequest{HomeId: home, Pipeline: want}))
		if err != nil {
			return err
		}
		if a.json {
			return printJSON(a.env.Stdout, resp.Msg)
		}
		_, err = fmt.Fprintf(a.env.Stdout, "Home %s now uses the %s pipeline\n", home, pipelineName(resp.Msg.GetPipeline()))
		return err
	}
	resp, err := c.intent.GetPipeline(ctx, connect.NewRequest(&homeplanev1.GetPipelineRequest{HomeId: home}))
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.env.Stdout, resp.Msg)
	}
	return table(a.env.Stdout, []any{"HOME", "PIPELINE"}, [][]any{{home, pipelineName(resp.Msg.GetPipeline())}})
}

// showOrSet reads the arguments of a "NAME [show]" / "NAME set VALUE"
// command: the value to set, or "" to show.
func showOrSet(name string, pos []string, choices string) (string, error) {
	sub := "show"
	if len(pos) > 0 {
		sub, pos = pos[0], pos[1:]
	}
	switch {
	case sub == "show" && len(pos) > 0:
		return "", usagef("%s show takes no arguments", name)
	case sub == "set" && len(pos) != 1:
		return "", usagef("%s set takes one of %s", name, choices)
	case sub == "set":
		return pos[0], nil
	case sub != "show":
		return "", usagef("unknown %s command %q (show, set)", name, sub)
	}
	return "", nil
}

// userHome returns the logged-in user's clients and the home a command is
// about.
func (a *app) userHome(ctx context.Context, homeFlag string) (userClients, string, error) {
	c, err := a.userClients()
	if err != nil {
		return userClients{}, "", err
	}
	home, err := a.resolveHome(ctx, c.home, homeFlag)
	if err != nil {
		return userClients{}, "", err
	}
	return c, home, nil
}
