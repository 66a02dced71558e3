package main

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// enrollToken creates a one-time enrollment token for the home's agent.
func (a *app) enrollToken(ctx context.Context, args []string) error {
	fs := a.flags("enroll-token")
	homeID := homeFlag(fs)
	ttl := fs.Duration("ttl", 0, "how long the token stays valid (central's default: 1h, at most 168h)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("enroll-token takes no arguments")
	}
	if *ttl < 0 {
		return usagef("--ttl must be positive")
	}
	c, err := a.userClients()
	if err != nil {
		return err
	}
	home, err := a.resolveHome(ctx, c.home, *homeID)
	if err != nil {
		return err
	}
	req := &homeplanev1.CreateEnrollmentTokenRequest{HomeId: home}
	if *ttl > 0 {
		req.Ttl = durationpb.New(*ttl)
	}
	resp, err := c.home.CreateEnrollmentToken(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.env.Stdout, resp.Msg)
	}
	// The token alone on stdout, so TOKEN=$(homectl enroll-token) works.
	fmt.Fprintf(a.env.Stderr, "Enrollment token for home %s, valid until %s, usable once:\n",
		home, resp.Msg.GetExpiresAt().AsTime().Local().Format(time.DateTime))
	_, err = fmt.Fprintln(a.env.Stdout, resp.Msg.GetToken())
	return err
}
