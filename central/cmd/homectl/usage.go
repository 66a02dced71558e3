package main

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// usage prints the caller's use per day: every home of theirs, or the one
// --home names (not $HOMEPLANE_HOME: no flag means all of them).
func (a *app) usage(ctx context.Context, args []string) error {
	fs := a.flags("usage")
	homeID := fs.String("home", "", "one of your homes (default all of them)")
	since := fs.String("since", "", "first day, RFC 3339 or YYYY-MM-DD (default the first of this month)")
	until := fs.String("until", "", "end, RFC 3339 or YYYY-MM-DD (default now)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("usage takes no arguments")
	}
	req := &homeplanev1.GetUsageRequest{HomeId: *homeID}
	if req.Since, err = parseWhen("since", *since); err != nil {
		return err
	}
	if req.Until, err = parseWhen("until", *until); err != nil {
		return err
	}
	c, err := a.userClients()
	if err != nil {
		return err
	}
	resp, err := c.home.GetUsage(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.env.Stdout, resp.Msg)
	}
	rows := make([][]any, 0, len(resp.Msg.GetDays()))
	for _, d := range resp.Msg.GetDays() {
		rows = append(rows, []any{d.GetDay().AsTime().Format("2006-01-02"), fmt.Sprintf("%.4f", d.GetCpuCoreHours()),
			fmt.Sprintf("%.4f", d.GetMemoryGibHours()), d.GetIntents(), fmt.Sprintf("%.4f", d.GetPrice())})
	}
	return table(a.env.Stdout, []any{"DAY", "CPU CORE-HOURS", "MEMORY GIB-HOURS", "INTENTS", "PRICE (" + resp.Msg.GetCurrency() + ")"}, rows)
}
