package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// homes runs "homes [list|show|create|delete]".
func (a *app) homes(ctx context.Context, args []string) error {
	pos, err := a.parse(a.flags("homes"), args)
	if err != nil {
		return err
	}
	sub, rest := "list", pos
	if len(pos) > 0 {
		sub, rest = pos[0], pos[1:]
	}
	want := map[string]int{"list": 0, "show": 1, "create": 1, "delete": 1}
	n, ok := want[sub]
	if !ok {
		return usagef("unknown homes command %q (list, show, create, delete)", sub)
	}
	if len(rest) != n {
		if n == 0 {
			return usagef("homes %s takes no arguments", sub)
		}
		return usagef("homes %s takes exactly one argument", sub)
	}
	c, err := a.userClients()
	if err != nil {
		return err
	}
	switch sub {
	case "show":
		resp, err := c.home.GetHome(ctx, connect.NewRequest(&homeplanev1.GetHomeRequest{HomeId: rest[0]}))
		if err != nil {
			return err
		}
		return a.printHomes(resp.Msg, resp.Msg.GetHome())
	case "create":
		resp, err := c.home.CreateHome(ctx, connect.NewRequest(&homeplanev1.CreateHomeRequest{Name: rest[0]}))
		if err != nil {
			return err
		}
		return a.printHomes(resp.Msg, resp.Msg.GetHome())
	case "delete":
		if _, err := c.home.DeleteHome(ctx, connect.NewRequest(&homeplanev1.DeleteHomeRequest{HomeId: rest[0]})); err != nil {
			return err
		}
		if a.json {
			return printJSON(a.env.Stdout, &homeplanev1.DeleteHomeResponse{})
		}
		_, err := fmt.Fprintf(a.env.Stdout, "Deleted home %s\n", rest[0])
		return err
	}
	resp, err := c.home.ListHomes(ctx, connect.NewRequest(&homeplanev1.ListHomesRequest{}))
	if err != nil {
		return err
	}
	return a.printHomes(resp.Msg, resp.Msg.GetHomes()...)
}

// printHomes prints msg as JSON, or homes as a table.
func (a *app) printHomes(msg proto.Message, homes ...*homeplanev1.Home) error {
	if a.json {
		return printJSON(a.env.Stdout, msg)
	}
	rows := make([][]any, 0, len(homes))
	for _, h := range homes {
		online := "offline"
		if h.GetOnline() {
			online = "online"
		}
		rows = append(rows, []any{h.GetId(), h.GetName(), online, yesNo(h.GetEnrolled()), when(h.GetLastSeen()), when(h.GetCreatedAt())})
	}
	return table(a.env.Stdout, []any{"ID", "NAME", "AGENT", "ENROLLED", "LAST SEEN", "CREATED"}, rows)
}

// homeFlag adds --home to fs.
func homeFlag(fs *flag.FlagSet) *string {
	return fs.String("home", "", "home id (default $HOMEPLANE_HOME, else your only home)")
}

// resolveHome picks the home a command is about: the flag, else
// $HOMEPLANE_HOME, else the user's only home.
func (a *app) resolveHome(ctx context.Context, homes homeplanev1connect.HomeServiceClient, flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if id := a.env.Getenv(envHome); id != "" {
		return id, nil
	}
	resp, err := homes.ListHomes(ctx, connect.NewRequest(&homeplanev1.ListHomesRequest{}))
	if err != nil {
		return "", err
	}
	switch hs := resp.Msg.GetHomes(); len(hs) {
	case 0:
		return "", errors.New("you have no home yet: create one with 'homectl homes create NAME'")
	case 1:
		return hs[0].GetId(), nil
	default:
		return "", fmt.Errorf("you have %d homes: pick one with --home (see 'homectl homes')", len(hs))
	}
}
