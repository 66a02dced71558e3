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
	password, err = a.secret(secretSource{value: password, flag: "password", env: envPassword, label: "password"})
	if err != nil {
		return "", "", err
	}
	return email, password, nil
}

// secretSource says where a password may come from.
type secretSource struct {
	value string // the flag's value, if given
	flag  string // the flag's name, for the message when there is none
	env   string // the environment variable consulted next
	label string // what the prompt asks for: "password", "new password"
	// confirm asks twice on the terminal, for a password that is being set.
	confirm bool
}

// secret finds a password in the flag, the environment variable, or a
// prompt on the terminal, in that order.
func (a *app) secret(src secretSource) (string, error) {
	if src.value != "" {
		return src.value, nil
	}
	if v := a.env.Getenv(src.env); v != "" {
		return v, nil
	}
	f, ok := a.env.Stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usagef("no %s: pass --%s, set %s, or run on a terminal", src.label, src.flag, src.env)
	}
	first, err := a.promptPassword(f, src.label)
	if err != nil || !src.confirm {
		return first, err
	}
	again, err := a.promptPassword(f, "the "+src.label+" again")
	if err != nil {
		return "", err
	}
	if again != first {
		return "", errors.New("the passwords typed differ")
	}
	return first, nil
}

// promptPassword reads a password from the terminal without echo.
func (a *app) promptPassword(f *os.File, label string) (string, error) {
	fmt.Fprintf(a.env.Stderr, "%s%s: ", strings.ToUpper(label[:1]), label[1:])
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.env.Stderr)
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w", label, err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", fmt.Errorf("empty %s", label)
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

// register asks for an account; "register confirm TOKEN" creates it with
// the token from the confirmation mail and logs in.
func (a *app) register(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "confirm" {
		return a.confirmRegistration(ctx, args[1:])
	}
	email, password, err := a.credentialFlags("register", args)
	if err != nil {
		return err
	}
	client, _, err := a.authClient()
	if err != nil {
		return err
	}
	if _, err := client.Register(ctx, connect.NewRequest(&homeplanev1.RegisterRequest{Email: email, Password: password})); err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.env.Stdout, "A confirmation was sent to %s. Run: homectl register confirm TOKEN\n", email)
	return err
}

func (a *app) confirmRegistration(ctx context.Context, args []string) error {
	pos, err := a.parse(a.flags("register confirm"), args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: homectl register confirm TOKEN")
	}
	client, base, err := a.authClient()
	if err != nil {
		return err
	}
	resp, err := client.ConfirmRegistration(ctx, connect.NewRequest(&homeplanev1.ConfirmRegistrationRequest{Token: pos[0]}))
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
