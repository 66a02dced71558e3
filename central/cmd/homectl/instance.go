package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

const instanceUsage = `usage: homectl instance [--home ID] status|start|stop|restart|upgrade IMAGE|provision [IMAGE]|remove [--data]`

// instanceActions maps the subcommands to the actions ControlInstance takes.
var instanceActions = map[string]homeplanev1.InstanceAction{
	"start":     homeplanev1.InstanceAction_INSTANCE_ACTION_START,
	"stop":      homeplanev1.InstanceAction_INSTANCE_ACTION_STOP,
	"restart":   homeplanev1.InstanceAction_INSTANCE_ACTION_RESTART,
	"upgrade":   homeplanev1.InstanceAction_INSTANCE_ACTION_UPGRADE,
	"provision": homeplanev1.InstanceAction_INSTANCE_ACTION_PROVISION,
	"remove":    homeplanev1.InstanceAction_INSTANCE_ACTION_REMOVE,
}

// instanceWait bounds an action on the client side; central's own limit
// per action (up to 20 minutes for an upgrade) comes first.
const instanceWait = 25 * time.Minute

// pollEvery is how often the status is polled while an action runs.
const pollEvery = time.Second

// instance shows or changes the home's Home Assistant container.
func (a *app) instance(ctx context.Context, args []string) error {
	fs := a.flags("instance")
	homeFlagValue := homeFlag(fs)
	removeData := fs.Bool("data", false, "with remove: also delete the configuration volume")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	sub := "status"
	if len(pos) > 0 {
		sub, pos = pos[0], pos[1:]
	}
	req := &homeplanev1.ControlInstanceRequest{RemoveData: *removeData}
	if sub != "status" {
		action, ok := instanceActions[sub]
		if !ok {
			return usagef("unknown instance command %q\n%s", sub, instanceUsage)
		}
		req.Action = action
	}
	switch {
	case sub == "upgrade" && len(pos) != 1:
		return usagef("instance upgrade takes one IMAGE")
	case sub == "provision" && len(pos) > 1:
		return usagef("instance provision takes at most one IMAGE")
	case sub != "upgrade" && sub != "provision" && len(pos) > 0:
		return usagef("instance %s takes no arguments", sub)
	case *removeData && sub != "remove":
		return usagef("--data goes with instance remove only")
	}
	if len(pos) == 1 {
		req.Image = pos[0]
	}
	c, err := a.userClients()
	if err != nil {
		return err
	}
	if req.HomeId, err = a.resolveHome(ctx, c.home, *homeFlagValue); err != nil {
		return err
	}
	if sub == "status" {
		resp, err := c.home.GetInstance(ctx, connect.NewRequest(&homeplanev1.GetInstanceRequest{HomeId: req.HomeId}))
		if err != nil {
			return err
		}
		return a.printInstance(resp.Msg, resp.Msg.GetInstance())
	}
	in, err := a.controlInstance(ctx, c.home, req)
	if err != nil {
		return err
	}
	return a.printInstance(&homeplanev1.ControlInstanceResponse{Instance: in}, in)
}

// controlInstance runs one action, printing its progress on stderr from the
// status polled meanwhile. The action outlives homectl's usual request
// timeout, so it gets its own client and deadline; Ctrl-C still stops it.
func (a *app) controlInstance(ctx context.Context, poll homeplanev1connect.HomeServiceClient, req *homeplanev1.ControlInstanceRequest) (*homeplanev1.Instance, error) {
	long, cancel := context.WithTimeout(context.WithoutCancel(ctx), instanceWait)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel() // interrupted, not merely past the usual request timeout
		}
	})
	defer stop()
	s, err := a.session()
	if err != nil {
		return nil, err
	}
	base, _ := a.baseURL()
	ctl := homeplanev1connect.NewHomeServiceClient(a.untimedHTTP(), base, connect.WithInterceptors(s))

	type answer struct {
		resp *connect.Response[homeplanev1.ControlInstanceResponse]
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := ctl.ControlInstance(long, connect.NewRequest(req))
		done <- answer{resp, err}
	}()
	verb := strings.ToLower(strings.TrimPrefix(req.Action.String(), "INSTANCE_ACTION_"))
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	last := ""
	for {
		select {
		case got := <-done:
			if got.err != nil {
				return nil, got.err
			}
			return got.resp.Msg.GetInstance(), nil
		case <-tick.C:
			pctx, pcancel := context.WithTimeout(long, 5*time.Second)
			resp, err := poll.GetInstance(pctx, connect.NewRequest(&homeplanev1.GetInstanceRequest{HomeId: req.HomeId}))
			pcancel()
			if err != nil {
				continue // progress is a courtesy; the action's answer decides
			}
			if line := progressLine(resp.Msg.GetInstance()); line != "" && line != last {
				fmt.Fprintf(a.env.Stderr, "%s: %s\n", verb, line)
				last = line
			}
		}
	}
}

// progressLine words an operation's progress, or the state while there is
// no pull to show.
func progressLine(in *homeplanev1.Instance) string {
	op := in.GetOperation()
	switch {
	case op == nil:
		return ""
	case op.GetPullTotalBytes() > 0:
		return fmt.Sprintf("pulling %s: %.0f%% (%s of %s)", orDash(op.GetImage()), op.GetPullPercent(),
			bytesText(op.GetPullCurrentBytes()), bytesText(op.GetPullTotalBytes()))
	case op.GetPullCurrentBytes() > 0:
		return fmt.Sprintf("pulling %s: %s", orDash(op.GetImage()), bytesText(op.GetPullCurrentBytes()))
	}
	return fmt.Sprintf("container %s, %s", orDash(in.GetState()), orDash(in.GetHealth()))
}

// printInstance prints a status as a table, or msg as JSON.
func (a *app) printInstance(msg proto.Message, in *homeplanev1.Instance) error {
	if a.json {
		return printJSON(a.env.Stdout, msg)
	}
	return writeInstance(a.env.Stdout, in, time.Now())
}

func writeInstance(w io.Writer, in *homeplanev1.Instance, now time.Time) error {
	up := "-"
	if in.GetState() == "running" && in.GetStartedAt() != nil {
		up = fmt.Sprintf("%s (up %s)", when(in.GetStartedAt()), now.Sub(in.GetStartedAt().AsTime()).Round(time.Second))
	}
	memory := bytesText(in.GetMemoryBytes())
	if l := in.GetMemoryLimitBytes(); l > 0 {
		memory += " of " + bytesText(l)
	}
	rows := [][]any{
		{"HEALTH", orDash(in.GetHealth())},
		{"MODE", orDash(in.GetMode())},
		{"IMAGE", orDash(in.GetImage())},
		{"VERSION", orDash(in.GetVersion())},
		{"STARTED", up},
		{"RESTARTS", in.GetRestarts()},
		{"CPU", fmt.Sprintf("%.1f%%", in.GetCpuPercent())},
		{"MEMORY", memory},
	}
	if l := in.GetLimits(); l != nil {
		rows = append(rows, []any{"LIMITS", limitsText(l) + " (set by an operator)"})
	}
	if t := in.GetLastSuccessAt(); t != nil {
		rows = append(rows, []any{"LAST ANSWER", when(t)})
	}
	if in.GetLastEvent() != "" {
		ev := in.GetLastEvent()
		if r := in.GetLastEventReason(); r != "" {
			ev += ": " + r
		}
		rows = append(rows, []any{"LAST EVENT", ev + " (" + when(in.GetLastEventTime()) + ")"})
	}
	if op := in.GetOperation(); op != nil {
		verb := strings.ToLower(strings.TrimPrefix(op.GetAction().String(), "INSTANCE_ACTION_"))
		if op.GetAction() == homeplanev1.InstanceAction_INSTANCE_ACTION_UNSPECIFIED {
			verb = "agent"
		}
		rows = append(rows, []any{"OPERATION", verb + " since " + when(op.GetStartedAt()) + "; " + progressLine(in)})
	}
	rows = append(rows, []any{"UPDATED", when(in.GetUpdatedAt())})
	if err := table(w, []any{"STATE", orDash(in.GetState())}, rows); err != nil {
		return err
	}
	if len(in.GetRecentRestarts()) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	var rs [][]any
	for _, r := range in.GetRecentRestarts() {
		rs = append(rs, []any{when(r.GetTime()), orDash(r.GetReason())})
	}
	return table(w, []any{"RESTARTED", "REASON"}, rs)
}

// bytesText shows a byte count in binary units.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
