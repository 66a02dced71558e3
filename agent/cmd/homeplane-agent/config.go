package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/homeplane/homeplane/agent/internal/supervisor"
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
	// CAFile, when set, is the only CA trusted for central's HTTPS and
	// MQTT over TLS (for a private CA); otherwise the system pool is used.
	CAFile string
	// Managed mode: the agent owns the Home Assistant container.
	Mode           string
	Image          string
	HAPort         int
	DataDir        string
	SampleInterval time.Duration
	// ContainerName names the managed container; its volumes are named
	// after it.
	ContainerName string
	// AllowedImages are the image repositories the supervisor may run:
	// Home Assistant's own and the configured Image, plus any listed.
	AllowedImages []string
	// AllowedDomains, when set, are the only service domains commands may
	// call; empty allows all.
	AllowedDomains []string
	// MemoryBytes and NanoCPUs limit the managed container (hosting mode
	// sets them per home).
	MemoryBytes, NanoCPUs int64
	// hosted is set for a home of the hosting agent: its books admit
	// central's limits and central's release ends the home.
	hosted *hostedHome
	// Hosting mode: many homes' instances, one directory each under
	// HomesDir, ports from FirstPort–LastPort, HostMemory for all of them.
	HomesDir            string
	FirstPort, LastPort int
	HostMemory          int64
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
		{flag: "enrollment-token", env: "HOMEPLANE_ENROLLMENT_TOKEN", usage: "one-time enrollment token; used only when the state directory holds no identity (prefer --enrollment-token-file: a flag shows in ps)", secret: true},
		{flag: "enrollment-token-file", env: "HOMEPLANE_ENROLLMENT_TOKEN_FILE", usage: "file holding the one-time enrollment token"},
		{flag: "state-dir", env: "HOMEPLANE_STATE_DIR", def: "/var/lib/homeplane-agent", usage: "directory for the agent's identity (kept mode 0700)"},
		{flag: "ha-url", env: "HOMEPLANE_HA_URL", def: "http://127.0.0.1:8123", usage: "Home Assistant base URL"},
		{flag: "ha-token", env: "HOMEPLANE_HA_TOKEN", usage: "Home Assistant long-lived access token (prefer --ha-token-file: a flag shows in ps)", secret: true},
		{flag: "ha-token-file", env: "HOMEPLANE_HA_TOKEN_FILE", usage: "file holding the Home Assistant long-lived access token"},
		{flag: "log-level", env: "HOMEPLANE_LOG_LEVEL", def: "info", usage: "debug, info, warn or error"},
		{flag: "metrics-addr", env: "HOMEPLANE_METRICS_ADDR", usage: "address for /metrics and /healthz, e.g. 127.0.0.1:9100; empty: off"},
		{flag: "mqtt-max-backoff", env: "HOMEPLANE_MQTT_MAX_BACKOFF", def: "2m", usage: "longest wait between MQTT reconnect attempts"},
		{flag: "ca-file", env: "HOMEPLANE_CA_FILE", usage: "PEM CA certificates that central's TLS certificate must chain to; empty: the system's"},
		{flag: "mode", env: "HOMEPLANE_MODE", def: "adopt", usage: "adopt (Home Assistant runs on its own), managed (the agent owns its container) or hosting (many homes' containers)"},
		{flag: "image", env: "HOMEPLANE_IMAGE", def: "ghcr.io/home-assistant/home-assistant:stable", usage: "Home Assistant image provisioned in managed mode"},
		{flag: "ha-port", env: "HOMEPLANE_HA_PORT", def: "8123", usage: "host port Home Assistant is published on (127.0.0.1) in managed mode"},
		{flag: "data-dir", env: "HOMEPLANE_DATA_DIR", usage: "directory for the outbox and the supervisor's state (default: the state directory)"},
		{flag: "sample-interval", env: "HOMEPLANE_SAMPLE_INTERVAL", def: "15s", usage: "time between resource samples of the Home Assistant container"},
		{flag: "container-name", env: "HOMEPLANE_CONTAINER_NAME", def: "homeplane-ha", usage: "name of the managed Home Assistant container; its volumes are named after it"},
		{flag: "allowed-images", env: "HOMEPLANE_ALLOWED_IMAGES", usage: "comma-separated image repositories (or name/* for all under a name) central may provision besides Home Assistant's own and --image"},
		{flag: "allowed-domains", env: "HOMEPLANE_ALLOWED_DOMAINS", usage: "comma-separated service domains commands may call, e.g. light,switch,climate; empty: all"},
		{flag: "homes-dir", env: "HOMEPLANE_HOMES_DIR", usage: "hosting mode: one directory per hosted home (put an enrollment-token file in a new one)"},
		{flag: "port-range", env: "HOMEPLANE_PORT_RANGE", def: "8200-8300", usage: "hosting mode: host ports for the hosted instances"},
		{flag: "host-memory", env: "HOMEPLANE_HOST_MEMORY", usage: "hosting mode: memory the hosted containers may use together, e.g. 16GiB (default: the host's less 1 GiB)"},
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
	// Each secret has a -file setting of its own (HOMEPLANE_HA_TOKEN_FILE is
	// --ha-token-file), so the shared *_FILE reader is not needed here.
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
		CAFile:          *raw["ca-file"],
	}
	var errs []error
	for _, t := range []struct {
		name string
		dst  *string
	}{{"enrollment-token", &c.EnrollmentToken}, {"ha-token", &c.HAToken}} {
		if err := readSecretFile(t.name, *raw[t.name+"-file"], t.dst); err != nil {
			errs = append(errs, err)
		}
	}
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
	// In managed and hosting mode the agent onboards a fresh instance and mints its own.
	if c.HAToken == "" && strings.TrimSpace(*raw["mode"]) == "adopt" {
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
	c.Mode, c.Image, c.DataDir = *raw["mode"], strings.TrimSpace(*raw["image"]), *raw["data-dir"]
	if c.DataDir == "" {
		c.DataDir = c.StateDir
	}
	if c.Mode != "adopt" && c.Mode != "managed" && c.Mode != "hosting" {
		errs = append(errs, fmt.Errorf("mode: %q is not adopt, managed or hosting", c.Mode))
	}
	if c.Mode != "adopt" && c.Image == "" {
		errs = append(errs, fmt.Errorf("image: must be set in %s mode", c.Mode))
	}
	if c.Mode == "hosting" {
		errs = append(errs, parseHosting(&c, *raw["homes-dir"], *raw["port-range"], *raw["host-memory"])...)
	}
	if p, err := strconv.Atoi(*raw["ha-port"]); err != nil || p < 1 || p > 65535 {
		errs = append(errs, fmt.Errorf("ha-port: %q is not a port", *raw["ha-port"]))
	} else {
		c.HAPort = p
	}
	si, err := time.ParseDuration(*raw["sample-interval"])
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("sample-interval: %w", err))
	case si < time.Second || si > time.Hour:
		errs = append(errs, fmt.Errorf("sample-interval: %v is outside 1s to 1h", si))
	}
	c.SampleInterval = si
	c.ContainerName = strings.TrimSpace(*raw["container-name"])
	c.AllowedImages = append(append(list(*raw["allowed-images"]), supervisor.OfficialImages...), c.Image)
	if err := supervisor.CheckAllowedImages(c.AllowedImages); err != nil {
		errs = append(errs, fmt.Errorf("allowed-images: %w", err))
	}
	c.AllowedDomains = list(*raw["allowed-domains"])
	for _, d := range c.AllowedDomains {
		if !domainName.MatchString(d) {
			errs = append(errs, fmt.Errorf("allowed-domains: %q is not a service domain", d))
		}
	}
	if !containerName.MatchString(c.ContainerName) {
		errs = append(errs, fmt.Errorf("container-name: %q is not a container name (letters, digits, _ . -; at most 63)", c.ContainerName))
	}
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
		slog.String("mode", c.Mode),
		slog.String("image", c.Image),
		slog.Int("ha_port", c.HAPort),
		slog.String("data_dir", c.DataDir),
		slog.Duration("sample_interval", c.SampleInterval),
		slog.String("container_name", c.ContainerName),
		slog.Any("allowed_images", c.AllowedImages),
		slog.Any("allowed_domains", c.AllowedDomains),
		slog.String("homes_dir", c.HomesDir),
		slog.Int("first_port", c.FirstPort),
		slog.Int("last_port", c.LastPort),
		slog.Int64("host_memory", c.HostMemory),
	)
}

// containerName is what Docker accepts as a container name, kept short
// enough for the volume names derived from it.
var containerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// domainName is Home Assistant's domain syntax.
var domainName = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`)

// list splits a comma-separated setting, dropping empty items.
func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// maxSecretFile bounds a token file: tokens are a few hundred bytes.
const maxSecretFile = 64 << 10

// readSecretFile sets *dst from path, when path is set. The secret itself
// may then stay out of the command line, which every local user can read
// in ps. Giving both the secret and its file is an error.
func readSecretFile(name, path string, dst *string) error {
	if path == "" {
		return nil
	}
	if *dst != "" {
		return fmt.Errorf("%s-file: %s is set too; give one of them", name, name)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s-file: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	switch {
	case err != nil:
		return fmt.Errorf("%s-file: %w", name, err)
	case len(b) > maxSecretFile:
		return fmt.Errorf("%s-file: %s is larger than %d bytes", name, path, maxSecretFile)
	}
	if *dst = strings.TrimSpace(string(b)); *dst == "" {
		return fmt.Errorf("%s-file: %s is empty", name, path)
	}
	return nil
}

func mask(secret string) string {
	if secret == "" {
		return ""
	}
	return "***"
}
