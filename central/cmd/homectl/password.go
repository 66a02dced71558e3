package main

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

const passwordUsage = `usage: homectl password COMMAND
  change [--current P] [--new P]     change your password (or $HOMEPLANE_PASSWORD, $HOMEPLANE_NEW_PASSWORD, the prompt)
  forgot --email E                   have a reset token sent to the account's address
  reset --token T [--new P]          set a new password with a reset token`

// password runs "password change|forgot|reset".
func (a *app) password(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("password needs a command\n%s", passwordUsage)
	}
	cmds := map[string]func(context.Context, []string) error{
		"change": a.passwordChange, "forgot": a.passwordForgot, "reset": a.passwordReset,
	}
	f, ok := cmds[args[0]]
	if !ok {
		return usagef("unknown password command %q\n%s", args[0], passwordUsage)
	}
	return f(ctx, args[1:])
}

// newPassword is where a password being set comes from.
func newPassword(value string) secretSource {
	return secretSource{value: value, flag: "new", env: envNewPassword, label: "new password", confirm: true}
}

// passwordChange changes the logged-in user's password. Central ends every
// session of the user, this one too, so the saved tokens are forgotten.
func (a *app) passwordChange(ctx context.Context, args []string) error {
	fs := a.flags("password change")
	current := fs.String("current", "", "current password (prefer $"+envPassword+" or the prompt)")
	next := fs.String("new", "", "new password (prefer $"+envNewPassword+" or the prompt)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("password change takes no arguments")
	}
	c, err := a.userClients()
	if err != nil {
		return err
	}
	if *current, err = a.secret(secretSource{value: *current, flag: "current", env: envPassword, label: "current password"}); err != nil {
		return err
	}
	if *next, err = a.secret(newPassword(*next)); err != nil {
		return err
	}
	req := &homeplanev1.ChangePasswordRequest{CurrentPassword: *current, NewPassword: *next}
	if _, err := c.auth.ChangePassword(ctx, connect.NewRequest(req)); err != nil {
		return err
	}
	if err := c.session.store.remove(); err != nil {
		return fmt.Errorf("password changed, but %w", err)
	}
	if a.json {
		return printJSON(a.env.Stdout, &homeplanev1.ChangePasswordResponse{})
	}
	_, err = fmt.Fprintf(a.env.Stdout, "Password changed. Every session of %s has ended, this one too: log in again with 'homectl login --email %s'\n",
		c.session.creds.Email, c.session.creds.Email)
	return err
}

// passwordForgot asks central to send a reset token. Central answers alike
// whether or not the account exists, and so does homectl.
func (a *app) passwordForgot(ctx context.Context, args []string) error {
	fs := a.flags("password forgot")
	email := fs.String("email", "", "account e-mail address")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("password forgot takes no arguments")
	}
	if *email == "" {
		return usagef("password forgot needs --email")
	}
	client, _, err := a.authClient()
	if err != nil {
		return err
	}
	if _, err := client.RequestPasswordReset(ctx, connect.NewRequest(&homeplanev1.RequestPasswordResetRequest{Email: *email})); err != nil {
		return err
	}
	if a.json {
		return printJSON(a.env.Stdout, &homeplanev1.RequestPasswordResetResponse{})
	}
	_, err = fmt.Fprintf(a.env.Stdout, "If %s has an account, a reset token is on its way there. Use it with 'homectl password reset --token T'\n", *email)
	return err
}

// passwordReset sets a new password with a reset token; no login needed.
func (a *app) passwordReset(ctx context.Context, args []string) error {
	fs := a.flags("password reset")
	token := fs.String("token", "", "the reset token that was sent")
	next := fs.String("new", "", "new password (prefer $"+envNewPassword+" or the prompt)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("password reset takes no arguments")
	}
	if *token == "" {
		return usagef("password reset needs --token")
	}
	if *next, err = a.secret(newPassword(*next)); err != nil {
		return err
	}
	client, _, err := a.authClient()
	if err != nil {
		return err
	}
	req := &homeplanev1.ResetPasswordRequest{ResetToken: *token, NewPassword: *next}
	if _, err := client.ResetPassword(ctx, connect.NewRequest(req)); err != nil {
		return err
	}
	if a.json {
		return printJSON(a.env.Stdout, &homeplanev1.ResetPasswordResponse{})
	}
	_, err = fmt.Fprintln(a.env.Stdout, "Password reset. Every session of the account has ended: log in with the new password")
	return err
}
