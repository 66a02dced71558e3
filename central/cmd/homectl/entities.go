package main

import (
	"context"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// entities lists what the home's Home Assistant exposes.
func (a *app) entities(ctx context.Context, args []string) error {
	fs := a.flags("entities")
	homeID := homeFlag(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("entities takes no arguments")
	}
	c, err := a.userClients()
	if err != nil {
		return err
	}
	home, err := a.resolveHome(ctx, c.home, *homeID)
	if err != nil {
		return err
	}
	resp, err := c.home.ListEntities(ctx, connect.NewRequest(&homeplanev1.ListEntitiesRequest{HomeId: home}))
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.env.Stdout, resp.Msg)
	}
	areas := map[string]string{}
	for _, ar := range resp.Msg.GetAreas() {
		areas[ar.GetId()] = ar.GetName()
	}
	rows := make([][]any, 0, len(resp.Msg.GetEntities()))
	for _, e := range resp.Msg.GetEntities() {
		area := e.GetAreaId()
		if name, ok := areas[area]; ok {
			area = name
		}
		rows = append(rows, []any{e.GetEntityId(), e.GetName(), orDash(area), orDash(e.GetState())})
	}
	return table(a.env.Stdout, []any{"ENTITY", "NAME", "AREA", "STATE"}, rows)
}
