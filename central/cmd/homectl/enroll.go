package main

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// enrollToken runs "enroll-token [create|revoke]": by default it creates a
// one-time enrollment token for the home's agent.
func (a *app) enrollToken(ctx context.Context, args []string) error {
	fs := a.flags("enroll-token")
	homeID := homeFlag(fs)
	ttl := fs.Duration("ttl", 0, "how long the token stays valid (central's default: 1h, at most 168h)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	sub := "create"
	if len(pos) > 0 {
		sub, pos = pos[0], pos[1:]
	}
	switch {
	case sub != "create" && sub != "revoke":
		return usagef("unknown enroll-token command %q (create, revoke)", sub)
	case len(pos) > 0:
		return usagef("enroll-token %s takes no arguments", sub)
	case *ttl < 0:
		return usagef("--ttl must be positive")
	case *ttl > 0 && sub == "revoke":
		return usagef("--ttl goes with enroll-token create only")
	}
	c, err := a.userClients()
	if err != nil {
		return err
	}
	home, err := a.resolveHome(ctx, c.home, *homeID)
	if err != nil {
		return err
	}
	if sub == "revoke" {
		return a.revokeEnrollmentTokens(ctx, c, home)
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

// revokeEnrollmentTokens makes the home's unused enrollment tokens stop
// working, say after one was shown to the wrong person.
func (a *app) revokeEnrollmentTokens(ctx context.Context, c userClients, home string) error {
	resp, err := c.home.RevokeEnrollmentTokens(ctx, connect.NewRequest(&homeplanev1.RevokeEnrollmentTokensRequest{HomeId: home}))
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.env.Stdout, resp.Msg)
	}
	_, err = fmt.Fprintf(a.env.Stdout, "Revoked %d unused enrollment token(s) of home %s\n", resp.Msg.GetRevoked(), home)
	return err
}
