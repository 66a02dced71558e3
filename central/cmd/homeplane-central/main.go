// Command homeplane-central runs Homeplane's control plane: the Connect API,
// the embedded MQTT broker, the intent engine and the command router.
//
//	homeplane-central [serve] [flags]   run the server (the default)
//	homeplane-central migrate [flags]   apply database migrations and exit
//
// The subcommands are listed in commands, in main.go.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/homeplane/homeplane/protocol/envfile"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runMain(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "homeplane-central:", err)
		os.Exit(1)
	}
}

// subcommand is one subcommand of homeplane-central.
type subcommand struct {
	summary string
	// usage shows how to call it; verbs are the sub-verbs whose flags
	// "help COMMAND" lists.
	usage string
	verbs []string
	run   func(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error
}

// commands lists the subcommands; each lives in a file of its own.
var commands = map[string]subcommand{
	"serve":   {summary: "run the server (the default)", usage: "usage: homeplane-central [serve] [flags]", run: runServe},
	"migrate": {summary: "apply database migrations and exit", usage: "usage: homeplane-central migrate [flags]", run: runMigrate},
	"config":  {summary: "check the configuration and print it, secrets masked", usage: "usage: homeplane-central config [flags]", run: runConfig},
	"intent":  {summary: "parse sentences offline (intent parse --home FILE)", usage: intentUsage, verbs: []string{"parse"}, run: runIntent},
	"audit":   {summary: "audit verify: check the audit hash chain", usage: auditUsage, verbs: []string{"verify"}, run: runAudit},
	"users":   {summary: "users import FILE | users promote EMAIL: operator account commands", usage: usersUsage, verbs: []string{"import", "promote"}, run: runUsers},
	"keys":    {summary: "keys rotate: add an access-token signing key without logging anyone out", usage: keysUsage, verbs: []string{"rotate"}, run: runKeys},
}

// secretEnv are the variables that may instead name a file holding the
// value (HOMEPLANE_DATABASE_URL_FILE, ...), as Docker and Kubernetes
// secrets are mounted.
var secretEnv = []string{"HOMEPLANE_DATABASE_URL", "HOMEPLANE_LLM_API_KEY", "HOMEPLANE_MQTT_PASSWORD", "HOMEPLANE_MQTT_AUTH_TOKEN"}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	getenv, err := envfile.Getenv(getenv, secretEnv...)
	if err != nil {
		return err
	}
	name := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	sub, ok := commands[name]
	if !ok {
		return fmt.Errorf("unknown command %q (want one of %s; see homeplane-central help)", name, strings.Join(commandNames(), ", "))
	}
	return sub.run(ctx, args, getenv, stderr)
}

// newLogger builds the JSON logger every subcommand logs with.
func newLogger(cfgLevel string, stderr io.Writer) *slog.Logger {
	level, _ := parseLevel(cfgLevel)
	return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, newLogger(cfg.LogLevel, stderr))
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	return migrate(ctx, cfg, newLogger(cfg.LogLevel, stderr))
}

// runConfig checks the configuration as serve would read it and prints the
// effective values, secrets masked; it exits non-zero naming every problem.
func runConfig(_ context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	for _, a := range cfg.LogValue().Group() {
		fmt.Fprintf(stderr, "%s=%s\n", a.Key, a.Value)
	}
	return nil
}
