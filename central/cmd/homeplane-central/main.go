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
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/homeplane/homeplane/protocol/envfile"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "homeplane-central:", err)
		os.Exit(1)
	}
}

// subcommand is one subcommand of homeplane-central.
type subcommand struct {
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error
}

// commands lists the subcommands; each lives in a file of its own.
var commands = map[string]subcommand{
	"serve":   {"run the server (the default)", runServe},
	"migrate": {"apply database migrations and exit", runMigrate},
	"intent":  {"parse sentences offline (intent parse --home FILE)", runIntent},
	"audit":   {"audit verify: check the audit hash chain", runAudit},
	"users":   {"users import FILE | users promote EMAIL: operator account commands", runUsers},
	"keys":    {"keys rotate: add an access-token signing key without logging anyone out", runKeys},
}

// secretEnv are the variables that may instead name a file holding the
// value (HOMEPLANE_DATABASE_URL_FILE, ...), as Docker and Kubernetes
// secrets are mounted.
var secretEnv = []string{"HOMEPLANE_DATABASE_URL", "HOMEPLANE_LLM_API_KEY"}

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
		var names []string
		for n := range commands {
			names = append(names, n)
		}
		slices.Sort(names)
		return fmt.Errorf("unknown command %q (want one of %s)", name, strings.Join(names, ", "))
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
