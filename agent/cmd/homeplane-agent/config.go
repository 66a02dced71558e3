package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
)

// config is the agent's effective configuration: defaults, then HOMEPLANE_*
// environment variables, then flags.
type config struct {
	CentralURL      string
	MQTTURL         string
	MQTTURLSet      bool // given by env or flag, so it wins over what central advertised
	EnrollmentToken string
	StateDir        string
	HAURL           string
	HAToken         string
	LogLevel        slog.Level
	MetricsAddr     string
	MQTTMaxBackoff  time.Duration
}

// setting is one option: its flag, its environment variable and its default.
type setting struct {
	flag, env, def, usage string
	secret                bool
	value                 *string
}

func settings(raw map[string]*string) []setting {
	s := []setting{
		{flag: "central-url", env: "HOMEPLANE_CENTRAL_URL", def: "http://127.0.0.1:8080", usage: "central's base URL, for enrollment"},
		{flag: "mqtt-url", env: "HOMEPLANE_MQTT_URL", def: "tcp://127.0.0.1:1883", usage: "MQTT broker URL; overrides the one central advertises at enrollment"},
		{flag: "enrollment-token", env: "HOMEPLANE_ENROLLMENT_TOKEN", usage: "one-time enrollment token; used only when the state directory holds no identity", secret: true},
		{flag: "state-dir", env: "HOMEPLANE_STATE_DIR", def: "/var/lib/homeplane-agent", usage: "directory for the agent's identity (kept mode 0700)"},
		{flag: "ha-url", env: "HOMEPLANE_HA_URL", def: "http://127.0.0.1:8123", usage: "Home Assistant base URL"},
		{flag: "ha-token", env: "HOMEPLANE_HA_TOKEN", usage: "Home Assistant long-lived access token", secret: true},
		{flag: "log-level", env: "HOMEPLANE_LOG_LEVEL", def: "info", usage: "debug, info, warn or error"},
		{flag: "metrics-addr", env: "HOMEPLANE_METRICS_ADDR", usage: "address for /metrics and /healthz, e.g. 127.0.0.1:9100; empty: off"},
		{flag: "mqtt-max-backoff", env: "HOMEPLANE_MQTT_MAX_BACKOFF", def: "2m", usage: "longest wait between MQTT reconnect attempts"},
	}
	for i := range s {
		s[i].value = new(string)
		raw[s[i].flag] = s[i].value
	}
	return s
}

// parseConfig reads the environment through getenv and then args, and
// reports every problem at once.
func parseConfig(args []string, getenv func(string) string, usageOut io.Writer) (config, error) {
	raw := map[string]*string{}
	fs := flag.NewFlagSet("homeplane-agent", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	fromEnv := map[string]bool{}
	for _, s := range settings(raw) {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
			fromEnv[s.flag] = true
		}
		usage := fmt.Sprintf("%s (env %s)", s.usage, s.env)
		shown := def
		if s.secret && def != "" {
			shown = "" // never print a secret from the environment in -help
		}
		fs.StringVar(s.value, s.flag, def, usage)
		if f := fs.Lookup(s.flag); f != nil {
			f.DefValue = shown
		}
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	c := config{
		CentralURL:      strings.TrimRight(*raw["central-url"], "/"),
		MQTTURL:         *raw["mqtt-url"],
		MQTTURLSet:      set["mqtt-url"] || fromEnv["mqtt-url"],
		EnrollmentToken: strings.TrimSpace(*raw["enrollment-token"]),
		StateDir:        *raw["state-dir"],
		HAURL:           strings.TrimRight(*raw["ha-url"], "/"),
		HAToken:         strings.TrimSpace(*raw["ha-token"]),
		MetricsAddr:     *raw["metrics-addr"],
	}
	var errs []error
	if err := checkURL(c.CentralURL, "http", "https"); err != nil {
		errs = append(errs, fmt.Errorf("central-url: %w", err))
	}
	if err := checkURL(c.MQTTURL, "tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss"); err != nil {
		errs = append(errs, fmt.Errorf("mqtt-url: %w", err))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("state-dir: must be set"))
	}
	if err := checkURL(c.HAURL, "http", "https"); err != nil {
		errs = append(errs, fmt.Errorf("ha-url: %w", err))
	}
	if c.HAToken == "" {
		errs = append(errs, errors.New("ha-token: must be set (a Home Assistant long-lived access token)"))
	}
	if err := c.LogLevel.UnmarshalText([]byte(*raw["log-level"])); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %q is not debug, info, warn or error", *raw["log-level"]))
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("metrics-addr: %w", err))
		}
	}
	d, err := time.ParseDuration(*raw["mqtt-max-backoff"])
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("mqtt-max-backoff: %w", err))
	case d < time.Second || d > time.Hour:
		errs = append(errs, fmt.Errorf("mqtt-max-backoff: %v is outside 1s to 1h", d))
	}
	c.MQTTMaxBackoff = d
	return c, errors.Join(errs...)
}

func checkURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	for _, s := range schemes {
		if u.Scheme == s && u.Host != "" {
			return nil
		}
	}
	return fmt.Errorf("%q is not a URL with scheme %s and a host", raw, strings.Join(schemes, ", "))
}

// LogValue masks the secrets, so the effective config can be logged.
func (c config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("central_url", c.CentralURL),
		slog.String("mqtt_url", c.MQTTURL),
		slog.String("enrollment_token", mask(c.EnrollmentToken)),
		slog.String("state_dir", c.StateDir),
		slog.String("ha_url", c.HAURL),
		slog.String("ha_token", mask(c.HAToken)),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.Duration("mqtt_max_backoff", c.MQTTMaxBackoff),
	)
}

func mask(secret string) string {
	if secret == "" {
		return ""
	}
	return "***"
}
