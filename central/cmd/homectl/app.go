package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Environment variables homectl reads.
const (
	envCentralURL  = "HOMEPLANE_CENTRAL_URL"
	envConfigDir   = "HOMEPLANE_CONFIG_DIR"
	envPassword    = "HOMEPLANE_PASSWORD"
	envDeviceToken = "HOMEPLANE_DEVICE_TOKEN"
	envHome        = "HOMEPLANE_HOME"
	envNewPassword = "HOMEPLANE_NEW_PASSWORD"
)

const defaultCentralURL = "http://127.0.0.1:8080"

// requestTimeout bounds each command's calls to central.
const requestTimeout = 30 * time.Second

// environment is everything homectl takes from the process, so tests can
// run commands in-process.
type environment struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// HTTPClient talks to central; nil means a client with the request
	// timeout.
	HTTPClient *http.Client
	// RequestTimeout bounds each command's calls; zero means requestTimeout.
	RequestTimeout time.Duration
	// Now tells the time; nil means time.Now.
	Now func() time.Time
}

func (a *app) now() time.Time {
	if a.env.Now != nil {
		return a.env.Now()
	}
	return time.Now()
}

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

const usageText = `usage: homectl [--central-url URL] [--json] COMMAND [ARGS]

Accounts
  register --email E [--password P]      ask for an account; a confirmation token is mailed
  register confirm TOKEN                 create the account with that token and log in
  login --email E [--password P]         log in; tokens are kept in the config dir
  logout                                 end the session and forget its tokens
  password change [--current P] [--new P]
                                         change your password; every session ends, log in again
  password forgot --email E              have a reset token sent to the account's address
  password reset --token T [--new P]     set a new password with a reset token

Homes
  homes [list]                           list your homes
  homes show ID                          one home
  homes create NAME                      create a home
  homes delete ID                        delete a home and everything in it
  usage [--home ID] [--since T] [--until T]
                                         your use per day (all your homes, or one), priced;
                                         by default this month so far
  enroll-token [create] [--home ID] [--ttl 1h]
                                         one-time token for the home's agent (printed alone)
  enroll-token revoke [--home ID]        make the home's unused enrollment tokens stop working
  agent revoke [--home ID]               disconnect the home's agent; it must enroll again

Voice devices
  devices [list] [--home ID]             list a home's voice devices
  devices add [--home ID] --name N [--area A]
                                         register a device; its token is printed alone, once
  devices revoke [--home ID] DEVICE_ID   revoke a device's token
  pair [--home ID] [--name N] [--area A] CODE
                                         approve the voice device showing CODE (XXXX-XXXX)
                                         for the home; it gets its token on its next poll
  pair deny CODE                         refuse the device showing CODE
  device pair [--name N] [--token-file F] [--poll-every D]
                                         act as a voice device (RFC 8628): show a code a
                                         person approves, then print the device token alone

Home Assistant
  entities [--home ID]                   what the home's Home Assistant exposes
  say [--home ID] [--device-token T] [--conversation ID | --new] [--language L] TEXT
                                         send a sentence, print the answer; the speaker's
                                         conversation goes on for 5 minutes ("turn it off")
  timers watch [--home ID] [--device-token T]
                                         print timer events as they happen, until Ctrl-C
  pipeline [show] [--home ID]            which parsers understand the home's sentences
  pipeline set rules|llm|plugin|rules_then_llm [--home ID]
                                         choose them
  policy [show] [--home ID]              what voice devices may do with sensitive actions
  policy set allow|confirm|deny [--home ID]
                                         unlocking, opening garage doors, doors, gates, valves:
                                         run, ask for a "yes" first, or refuse
  instance [status] [--home ID]          the Home Assistant container: state, health, restarts
  instance start|stop|restart|upgrade IMAGE|provision [IMAGE]|remove [--data]
                                         change it; long actions show pull progress

Administration (admins only; see 'homectl admin')
  admin users|homes|audit|usage ...      users, the fleet, the audit log, usage billing

'homectl help COMMAND' (or COMMAND --help) shows a command's flags.
Flags may come before or after the command. --json prints the full response
as JSON (proto field names) instead of a table. A command that needs a home
takes --home, else $HOMEPLANE_HOME, else your only home.

Environment: HOMEPLANE_CENTRAL_URL (default http://127.0.0.1:8080),
HOMEPLANE_CONFIG_DIR (default <user config dir>/homeplane), HOMEPLANE_PASSWORD,
HOMEPLANE_NEW_PASSWORD, HOMEPLANE_HOME, HOMEPLANE_DEVICE_TOKEN.

Exit status: 0 ok, 1 error, 2 usage.
`

// globals are the flags every command accepts.
type globals struct {
	centralURL string
	json       bool
}

// app is one run of homectl.
type app struct {
	env *environment
	globals
	http    *http.Client
	timeout time.Duration
}

// run executes homectl with args (without the program name) and returns the
// exit code. Errors are printed as one line on stderr.
func run(ctx context.Context, args []string, env *environment) int {
	a := &app{env: env, http: env.HTTPClient, timeout: env.RequestTimeout}
	if a.timeout <= 0 {
		a.timeout = requestTimeout
	}
	if a.http == nil {
		a.http = &http.Client{Timeout: a.timeout}
	}
	a.centralURL = env.Getenv(envCentralURL)
	if a.centralURL == "" {
		a.centralURL = defaultCentralURL
	}
	err := a.dispatch(ctx, args)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "homectl: %s\nrun 'homectl help' for usage\n", oneLine(err))
		return exitUsage
	default:
		fmt.Fprintf(env.Stderr, "homectl: %s\n", oneLine(a.describe(err)))
		return exitError
	}
}

// dispatch parses the global flags and runs the command named next.
func (a *app) dispatch(ctx context.Context, args []string) error {
	fs := a.flags("homectl")
	// Global flags stop at the command name; the command parses the rest.
	if err := fs.Parse(args); err != nil {
		return a.flagError(fs, err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(a.env.Stderr, usageText)
		return usagef("no command given")
	}
	cmd, rest := rest[0], rest[1:]
	if cmd == "help" {
		return a.help(ctx, rest)
	}
	f, ok := a.commands()[cmd]
	if !ok {
		return usagef("unknown command %q", cmd)
	}
	if streaming[cmd] {
		return f(ctx, rest)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	return f(ctx, rest)
}

// commands maps each command's name to the method that runs it.
func (a *app) commands() map[string]func(context.Context, []string) error {
	return map[string]func(context.Context, []string) error{
		"register":     a.register,
		"login":        a.login,
		"logout":       a.logout,
		"password":     a.password,
		"agent":        a.agent,
		"pipeline":     a.pipeline,
		"policy":       a.policy,
		"timers":       a.timers,
		"homes":        a.homes,
		"enroll-token": a.enrollToken,
		"devices":      a.devices,
		"entities":     a.entities,
		"say":          a.say,
		"admin":        a.admin,
		"instance":     a.instance,
		"usage":        a.usage,
		"pair":         a.pair,
		"device":       a.device,
	}
}

// streaming are the commands that run until a stream ends or Ctrl-C: they
// get no overall deadline and bound their other calls themselves.
var streaming = map[string]bool{"timers": true, "device": true}

// untimedHTTP is a.http without its timeout, for calls bounded by their
// context alone.
func (a *app) untimedHTTP() *http.Client {
	hc := *a.http
	hc.Timeout = 0
	return &hc
}

// flags returns a flag set that also knows the global flags, so they may
// follow the command too.
func (a *app) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.centralURL, "central-url", a.centralURL, "central's base URL")
	fs.BoolVar(&a.json, "json", a.json, "print JSON instead of a table")
	return fs
}

// parse parses args with fs, allowing flags after positional arguments, and
// returns the positional arguments. "--" ends the flags.
func (a *app) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, a.flagError(fs, err)
		}
		consumed := len(args) - fs.NArg()
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, fs.Args()...), nil
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// flagError turns a flag parsing error into a usage error; -h prints the
// help of the command fs belongs to.
func (a *app) flagError(fs *flag.FlagSet, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		a.printHelp(fs)
		return err
	}
	return usageError{err.Error()}
}

// baseURL checks the central URL and returns it without a trailing slash.
func (a *app) baseURL() (string, error) {
	u, err := url.Parse(a.centralURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usagef("central URL %q is not an http(s) URL", a.centralURL)
	}
	return strings.TrimRight(a.centralURL, "/"), nil
}

// oneLine keeps an error message on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
