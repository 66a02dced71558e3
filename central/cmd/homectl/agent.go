package main

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// agent runs "agent revoke": central forgets the home's agent credentials
// and drops its connection, for an agent host that was lost or taken over.
func (a *app) agent(ctx context.Context, args []string) error {
	fs := a.flags("agent")
	homeID := homeFlag(fs)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usagef("agent needs a command (revoke)")
	case pos[0] != "revoke":
		return usagef("unknown agent command %q (revoke)", pos[0])
	case len(pos) > 1:
		return usagef("agent revoke takes no arguments")
	}
	c, err := a.userClients()
	if err != nil {
		return err
	}
	home, err := a.resolveHome(ctx, c.home, *homeID)
	if err != nil {
		return err
	}
	if _, err := c.home.RevokeAgent(ctx, connect.NewRequest(&homeplanev1.RevokeAgentRequest{HomeId: home})); err != nil {
		return err
	}
	if a.json {
		return printJSON(a.env.Stdout, &homeplanev1.RevokeAgentResponse{})
	}
	_, err = fmt.Fprintf(a.env.Stdout, "Revoked the agent of home %s: it is disconnected now and must enroll again with a new token ('homectl enroll-token')\n", home)
	return err
}
