package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/homeplane/homeplane/protocol/envfile"
)

// helpArgs are the arguments that ask for help instead of running.
var helpArgs = []string{"help", "-h", "-help", "--help"}

// runMain is run with help: "homeplane-central --help" and
// "homeplane-central help [COMMAND]" print to stdout and succeed.
func runMain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && slices.Contains(helpArgs, args[0]) {
		return help(ctx, args[1:], getenv, stdout)
	}
	err := run(ctx, args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // "serve --help", "users promote -h": the flags are printed
	}
	return err
}

func help(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	switch len(args) {
	case 0:
		printOverview(out)
		return nil
	case 1:
	default:
		return fmt.Errorf("help takes one command, not %q", strings.Join(args, " "))
	}
	sub, ok := commands[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q (want one of %s)", args[0], strings.Join(commandNames(), ", "))
	}
	fmt.Fprintf(out, "%s\n\n%s\n", sub.summary, sub.usage)
	// Each verb's flags, as its own flag set prints them on -h.
	verbs := sub.verbs
	if len(verbs) == 0 {
		verbs = []string{""}
	}
	for _, v := range verbs {
		a := []string{"-h"}
		if v != "" {
			a = []string{v, "-h"}
		}
		fmt.Fprintln(out)
		if err := sub.run(ctx, a, getenv, out); err != nil && !errors.Is(err, flag.ErrHelp) {
			return err
		}
	}
	return nil
}

func printOverview(out io.Writer) {
	fmt.Fprint(out, `homeplane-central runs Homeplane's control plane: the Connect API, the web
dashboard, the embedded MQTT broker, the intent engine and the command router.

usage:
  homeplane-central [serve] [flags]     run the server (the default command)
  homeplane-central COMMAND [args]      run an operator command
  homeplane-central help [COMMAND]      this text, or a command's flags

commands:
`)
	for _, n := range commandNames() {
		fmt.Fprintf(out, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(out, `
Configuration: defaults, then a JSON file (--config), then environment
variables, then flags; later ones win. Every flag has its variable, and a
secret may be read from a file named by the variable with %s appended
(HOMEPLANE_DATABASE_URL_FILE=/run/secrets/database_url).

flags of serve, migrate and config:
`, envfile.Suffix)
	fs := flag.NewFlagSet("homeplane-central", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.String("config", "", "JSON configuration file")
	var c config
	bindFlags(fs, &c)
	fs.PrintDefaults()
}

func commandNames() []string {
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// envName is the environment variable of a serve flag.
func envName(flagName string) string {
	return "HOMEPLANE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// databaseURLFlag declares the operator commands' --database-url. Its
// default comes from the environment only after parsing, so that -h never
// prints a password.
func databaseURLFlag(fs *flag.FlagSet, getenv func(string) string) func() string {
	v := fs.String("database-url", "", "PostgreSQL URL (env HOMEPLANE_DATABASE_URL or HOMEPLANE_DATABASE_URL_FILE)")
	return func() string {
		if *v != "" {
			return *v
		}
		return getenv("HOMEPLANE_DATABASE_URL")
	}
}
