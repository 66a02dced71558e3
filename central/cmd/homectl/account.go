package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"connectrpc.com/connect"
	"golang.org/x/term"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// credentialFlags parses "--email E [--password P]" and finds the password
// in the flag, $HOMEPLANE_PASSWORD, or a prompt on the terminal, in that order.
func (a *app) credentialFlags(name string, args []string) (email, password string, err error) {
	fs := a.flags(name)
	fs.StringVar(&email, "email", "", "account e-mail address")
	fs.StringVar(&password, "password", "", "password (prefer $"+envPassword+" or the prompt)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return "", "", err
	}
	if len(pos) > 0 {
		return "", "", usagef("%s takes no arguments, got %q", name, pos[0])
	}
	if email == "" {
		return "", "", usagef("%s needs --email", name)
	}
	if password == "" {
		password = a.env.Getenv(envPassword)
	}
	if password == "" {
		password, err = a.promptPassword()
		if err != nil {
			return "", "", err
		}
	}
	return email, password, nil
}

// promptPassword reads a password from the terminal without echo.
func (a *app) promptPassword() (string, error) {
	f, ok := a.env.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usagef("no password: pass --password, set %s, or run on a terminal", envPassword)
	}
	fmt.Fprint(a.env.Stderr, "Password: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.env.Stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", errors.New("empty password")
	}
	return string(b), nil
}

func (a *app) authClient() (homeplanev1connect.AuthServiceClient, string, error) {
	base, err := a.baseURL()
	if err != nil {
		return nil, "", err
	}
	return homeplanev1connect.NewAuthServiceClient(a.http, base), base, nil
}

// startSession saves what register or login handed out and says who is in.
func (a *app) startSession(base string, user *homeplanev1.User, t *homeplanev1.Tokens, verb string) error {
	store, err := a.store()
	if err != nil {
		return err
	}
	if t.GetAccessToken() == "" || t.GetRefreshToken() == "" {
		return errors.New("central sent no tokens")
	}
	c := credentials{
		CentralURL:   base,
		UserID:       user.GetId(),
		Email:        user.GetEmail(),
		AccessToken:  t.GetAccessToken(),
		RefreshToken: t.GetRefreshToken(),
	}
	if t.GetAccessExpiresAt() != nil {
		c.AccessExpiresAt = t.GetAccessExpiresAt().AsTime()
	}
	if t.GetRefreshExpiresAt() != nil {
		c.RefreshExpiresAt = t.GetRefreshExpiresAt().AsTime()
	}
	if err := store.save(c); err != nil {
		return err
	}
	if a.json {
		return printJSON(a.env.Stdout, user)
	}
	_, err = fmt.Fprintf(a.env.Stdout, "%s as %s (%s) at %s\n", verb, user.GetEmail(), user.GetRole(), base)
	return err
}

func (a *app) register(ctx context.Context, args []string) error {
	email, password, err := a.credentialFlags("register", args)
	if err != nil {
		return err
	}
	client, base, err := a.authClient()
	if err != nil {
		return err
	}
	resp, err := client.Register(ctx, connect.NewRequest(&homeplanev1.RegisterRequest{Email: email, Password: password}))
	if err != nil {
		return err
	}
	return a.startSession(base, resp.Msg.GetUser(), resp.Msg.GetTokens(), "Registered and logged in")
}

func (a *app) login(ctx context.Context, args []string) error {
	email, password, err := a.credentialFlags("login", args)
	if err != nil {
		return err
	}
	client, base, err := a.authClient()
	if err != nil {
		return err
	}
	resp, err := client.Login(ctx, connect.NewRequest(&homeplanev1.LoginRequest{Email: email, Password: password}))
	if err != nil {
		return err
	}
	return a.startSession(base, resp.Msg.GetUser(), resp.Msg.GetTokens(), "Logged in")
}

// logout revokes the session at central and forgets it locally. The local
// credentials go even when central cannot be reached.
func (a *app) logout(ctx context.Context, args []string) error {
	pos, err := a.parse(a.flags("logout"), args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("logout takes no arguments")
	}
	store, err := a.store()
	if err != nil {
		return err
	}
	creds, err := store.load()
	if errors.Is(err, errNotLoggedIn) {
		fmt.Fprintln(a.env.Stdout, "Not logged in")
		return nil
	}
	var revokeErr error
	if err == nil {
		client := homeplanev1connect.NewAuthServiceClient(a.http, creds.CentralURL)
		_, revokeErr = client.Logout(ctx, connect.NewRequest(&homeplanev1.LogoutRequest{RefreshToken: creds.RefreshToken}))
		if connect.CodeOf(revokeErr) == connect.CodeUnauthenticated {
			revokeErr = nil // the session had already ended
		}
	}
	if err := store.remove(); err != nil {
		return err
	}
	if revokeErr != nil {
		return fmt.Errorf("logged out here, but central did not end the session: %w", a.describe(revokeErr))
	}
	fmt.Fprintln(a.env.Stdout, "Logged out")
	return nil
}
