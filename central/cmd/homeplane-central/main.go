// Command homeplane-central runs Homeplane's control plane: the Connect API,
// the embedded MQTT broker, the intent engine and the command router.
//
//	homeplane-central [serve] [flags]   run the server (the default)
//	homeplane-central migrate [flags]   apply database migrations and exit
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
	"syscall"
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

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	sub := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "serve", "migrate":
	default:
		return fmt.Errorf("unknown command %q (want serve or migrate)", sub)
	}
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	level, _ := parseLevel(cfg.LogLevel)
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	if sub == "migrate" {
		return migrate(ctx, cfg, logger)
	}
	return serve(ctx, cfg, logger)
}
