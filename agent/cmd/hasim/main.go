// Command hasim runs the Home Assistant simulator as a process.
//
//	hasim --addr 127.0.0.1:8123 --token T [--home FILE] [--version V]
//	      [--delay D] [--start-delay D] [--fail-services] [--unhealthy] [--exit-after D] [--fresh]
//	      [--config-dir DIR]
//
// With --config-dir (the image's /config volume) onboarding, users, tokens
// and the entities' last states are kept in DIR/.storage, shaped like Home
// Assistant's own files, so a restarted or re-created container accepts the
// same tokens and shows the same states.
//
// Every flag has an environment equivalent, HOMEPLANE_HASIM_<FLAG> with
// dashes as underscores (HOMEPLANE_HASIM_TOKEN, HOMEPLANE_HASIM_START_DELAY, ...);
// flags win over the environment. Durations take Go syntax ("1.5s") or a
// plain number of seconds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/homeplane/homeplane/agent/internal/hasim"
	"github.com/homeplane/homeplane/protocol/envfile"
)

type config struct {
	addr, token, home, version   string
	configDir                    string
	delay, startDelay, exitAfter time.Duration
	failServices, unhealthy      bool
	fresh                        bool
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := parse(os.Args[1:], os.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "hasim:", err)
		os.Exit(2)
	}
	if err := run(cfg, log); err != nil {
		log.Error("hasim stopped", "err", err)
		os.Exit(1)
	}
}

// parseDuration accepts Go durations and plain seconds.
func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return 0, errors.New("negative duration")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		return 0, errors.New("negative duration")
	}
	return d, err
}

func parse(args []string, getenv func(string) string) (config, error) {
	fs := flag.NewFlagSet("hasim", flag.ContinueOnError)
	getenv, err := envfile.Getenv(getenv, "HOMEPLANE_HASIM_TOKEN")
	if err != nil {
		return config{}, err
	}
	env := func(name, def string) string {
		if v := getenv("HOMEPLANE_HASIM_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); v != "" {
			return v
		}
		return def
	}
	addr := fs.String("addr", env("addr", "127.0.0.1:8123"), "listen address")
	token := fs.String("token", env("token", ""), "long-lived access token clients must present (required; env HOMEPLANE_HASIM_TOKEN or HOMEPLANE_HASIM_TOKEN_FILE)")
	home := fs.String("home", env("home", ""), "home file in the intents fixtures format (default: the demo home)")
	version := fs.String("version", env("version", hasim.DefaultVersion), "Home Assistant version to report")
	delay := fs.String("delay", env("delay", "0"), "delay before every answer")
	startDelay := fs.String("start-delay", env("start-delay", "0"), "answer 503 for this long after start")
	configDir := fs.String("config-dir", env("config-dir", ""), "keep onboarding, tokens and states in DIR/.storage (default: in memory)")
	exitAfter := fs.String("exit-after", env("exit-after", "0"), "exit with status 1 after this long (0: never)")
	var problems []error
	envBool := func(name string) bool {
		v, err := strconv.ParseBool(env(name, "false"))
		if err != nil {
			problems = append(problems, fmt.Errorf("HOMEPLANE_HASIM_%s: %w", strings.ToUpper(strings.ReplaceAll(name, "-", "_")), err))
		}
		return v
	}
	failServices := fs.Bool("fail-services", envBool("fail-services"), "fail every service call with 500")
	unhealthy := fs.Bool("unhealthy", envBool("unhealthy"), "answer 503 everywhere, as while stopping")
	fresh := fs.Bool("fresh", envBool("fresh"), "start not onboarded: the owner is created through /api/onboarding/users")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	cfg := config{addr: *addr, token: *token, home: *home, version: *version, configDir: *configDir,
		failServices: *failServices, unhealthy: *unhealthy, fresh: *fresh}
	durations := []struct {
		name string
		raw  string
		dst  *time.Duration
	}{{"delay", *delay, &cfg.delay}, {"start-delay", *startDelay, &cfg.startDelay}, {"exit-after", *exitAfter, &cfg.exitAfter}}
	for _, d := range durations {
		v, err := parseDuration(d.raw)
		if err != nil {
			problems = append(problems, fmt.Errorf("--%s: %w", d.name, err))
		}
		*d.dst = v
	}
	if cfg.token == "" && !cfg.fresh {
		problems = append(problems, errors.New("--token (or HOMEPLANE_HASIM_TOKEN) is required"))
	}
	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		problems = append(problems, fmt.Errorf("--addr: %w", err))
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Errorf("unexpected arguments: %v", fs.Args()))
	}
	return cfg, errors.Join(problems...)
}

func run(cfg config, log *slog.Logger) error {
	home := hasim.DemoHome()
	if cfg.home != "" {
		h, err := hasim.LoadHome(cfg.home)
		if err != nil {
			return err
		}
		home = h
	}
	srv, err := hasim.Open(home, hasim.Options{
		Token: cfg.token, Version: cfg.version, Delay: cfg.delay, StartDelay: cfg.startDelay,
		FailServices: cfg.failServices, Unhealthy: cfg.unhealthy, Fresh: cfg.fresh, Logger: log,
		ConfigDir: cfg.configDir,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.exitAfter > 0 {
		time.AfterFunc(cfg.exitAfter, func() {
			log.Error("exiting as configured by --exit-after", "after", cfg.exitAfter)
			os.Exit(1)
		})
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("hasim listening", "addr", ln.Addr().String(), "version", cfg.version,
		"entities", len(home.Entities), "delay", cfg.delay, "start_delay", cfg.startDelay,
		"fail_services", cfg.failServices, "unhealthy", cfg.unhealthy, "config_dir", cfg.configDir)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// WebSocket connections are hijacked: Shutdown neither waits for nor closes them.
	srv.CloseConnections()
	err = hs.Shutdown(sctx)
	log.Info("stopped", "err", err)
	return err
}
