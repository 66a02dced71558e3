package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/homeplane/homeplane/central/internal/rpc"
	"github.com/homeplane/homeplane/central/internal/usage"
	"github.com/homeplane/homeplane/protocol/envfile"
)

// config is central's configuration. It is read from defaults, then a JSON
// file (--config), then HOMEPLANE_* environment variables, then flags; later
// sources win. validate reports every problem at once.
type config struct {
	HTTPAddr      string `json:"http_addr"`
	MQTTAddr      string `json:"mqtt_addr"`
	MQTTAdvertise string `json:"mqtt_advertise_url"`
	// MetricsAddr serves /metrics apart from the API; empty turns it off.
	MetricsAddr string     `json:"metrics_addr"`
	MQTT        mqttLimits `json:"mqtt"`
	// mqttSideConfig: --mqtt-mode, the external broker and its contract.
	mqttSideConfig
	DatabaseURL     string   `json:"database_url"`
	LogLevel        string   `json:"log_level"`
	Issuer          string   `json:"jwt_issuer"`
	Audience        string   `json:"jwt_audience"`
	AccessTTL       duration `json:"access_token_ttl"`
	RefreshTTL      duration `json:"refresh_token_ttl"`
	CommandTimeout  duration `json:"command_timeout"`
	ShutdownTimeout duration `json:"shutdown_timeout"`
	// AuditRetention drops audit records older than this, a month at a
	// time; zero keeps them forever.
	AuditRetention duration `json:"audit_retention"`
	// UsageRates prices usage: "cpu_core_hour=0.02,memory_gib_hour=0.005,intent=0.0001,currency=EUR".
	UsageRates string `json:"usage_rates"`
	// TLSCert and TLSKey (PEM files), when set, make the API and the MQTT
	// broker speak TLS only.
	TLSCert string `json:"tls_cert"`
	TLSKey  string `json:"tls_key"`
	// TrustedProxies is a comma-separated list of CIDRs whose
	// X-Forwarded-For header names the client.
	TrustedProxies string `json:"trusted_proxies"`
	// ConversationWindow is how many recent turns of a conversation
	// follow-ups can refer to; ConversationTTL how long they stay usable.
	ConversationWindow int      `json:"conversation_window"`
	ConversationTTL    duration `json:"conversation_ttl"`
	// LLMBackend ("ollama" or "openai"), LLMURL and LLMModel configure the
	// language model the llm pipelines use; empty LLMBackend means none.
	LLMBackend string   `json:"llm_backend"`
	LLMURL     string   `json:"llm_url"`
	LLMModel   string   `json:"llm_model"`
	LLMAPIKey  string   `json:"llm_api_key"`
	LLMTimeout duration `json:"llm_timeout"`
	// ParserPlugin is the path of a parser plugin binary the plugin
	// pipeline runs; empty means none.
	ParserPlugin string `json:"parser_plugin"`
	// MaxConnections caps the API's concurrent connections.
	MaxConnections int `json:"max_connections"`
	// MaxRequestsPerAddress caps the requests one client address has in
	// flight, API and dashboard together (rpc.LimitPerAddress).
	MaxRequestsPerAddress int `json:"max_requests_per_address"`
	// DeviceBurst and DeviceRate are the token bucket of each voice device
	// (calls at once, calls a second); UserBurst and UserRate each user's.
	DeviceBurst int     `json:"device_burst"`
	DeviceRate  float64 `json:"device_rate"`
	UserBurst   int     `json:"user_burst"`
	UserRate    float64 `json:"user_rate"`
	// OverloadTarget is the audit backlog above which sentences are shed
	// (rpc.Overload); zero takes rpc's default, negative never sheds.
	OverloadTarget duration `json:"overload_target"`
	// SecureCookies marks the dashboard's cookies Secure on plain HTTP,
	// for a deployment behind a TLS-terminating proxy (--tls-cert implies it).
	SecureCookies bool `json:"secure_cookies"`
	// AutoConfirmRegistrations skips the confirmation mail: for development
	// and load runs only, since it lets anyone tell a registered address
	// from a free one (ADR 0027).
	AutoConfirmRegistrations bool `json:"auto_confirm_registrations"`
	// PublicURL is central's address as people and devices reach it, the
	// base of the pairing page's address handed to devices; empty takes
	// the address each request came to.
	PublicURL string `json:"public_url"`
	// PairingTTL is how long a device's pairing codes live;
	// PairingInterval how long it waits between polls.
	PairingTTL      duration `json:"pairing_ttl"`
	PairingInterval duration `json:"pairing_interval"`
}

// duration is a time.Duration that reads "15m"-style strings from JSON.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"15m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

func (d duration) String() string { return time.Duration(d).String() }

// Set and String make *duration a flag.Value.
func (d *duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

func defaultConfig() config {
	return config{
		HTTPAddr:              "127.0.0.1:8080",
		MQTTAddr:              "127.0.0.1:1883",
		MetricsAddr:           "127.0.0.1:9090",
		LogLevel:              "info",
		Issuer:                "homeplane",
		Audience:              "homeplane-api",
		AccessTTL:             duration(15 * time.Minute),
		RefreshTTL:            duration(7 * 24 * time.Hour),
		CommandTimeout:        duration(5 * time.Second),
		ConversationWindow:    5,
		ConversationTTL:       duration(5 * time.Minute),
		ShutdownTimeout:       duration(10 * time.Second),
		MaxConnections:        4096,
		MaxRequestsPerAddress: rpc.DefaultMaxRequestsPerAddress,
		DeviceBurst:           30,
		DeviceRate:            5,
		UserBurst:             100,
		UserRate:              20,
	}
}

// loadConfig builds the effective configuration for args.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("homeplane-central", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", getenv("HOMEPLANE_CONFIG"), "JSON configuration file")
	// Flags are declared over a scratch copy so that we can apply file and
	// environment first, then only the flags the user actually set.
	var fl config
	bindFlags(fs, &fl)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *file != "" {
		if err := readConfigFile(*file, &cfg); err != nil {
			return cfg, err
		}
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return cfg, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	applyFlags(&cfg, &fl, set)
	return cfg, cfg.validate()
}

func bindFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.HTTPAddr, "http-addr", "", "address of the Connect API, /healthz, /readyz (default 127.0.0.1:8080)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", `address of /metrics, kept off the API (default 127.0.0.1:9090; "off" disables)`)
	bindMQTTLimits(fs, &c.MQTT)
	bindMQTTSide(fs, &c.mqttSideConfig)
	fs.StringVar(&c.MQTTAddr, "mqtt-addr", "", "address of the embedded MQTT broker (default 127.0.0.1:1883)")
	fs.StringVar(&c.MQTTAdvertise, "mqtt-advertise-url", "", "broker URL handed to agents at enrollment, e.g. tcp://central.example:1883")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (required)")
	fs.StringVar(&c.LogLevel, "log-level", "", "debug, info, warn or error (default info)")
	fs.StringVar(&c.Issuer, "jwt-issuer", "", "iss of access tokens (default homeplane)")
	fs.StringVar(&c.Audience, "jwt-audience", "", "aud of access tokens (default homeplane-api)")
	fs.Var(&c.AccessTTL, "access-token-ttl", "access token lifetime (default 15m)")
	fs.Var(&c.RefreshTTL, "refresh-token-ttl", "refresh token absolute lifetime (default 168h)")
	fs.Var(&c.CommandTimeout, "command-timeout", "how long a command may wait for the home (default 5s)")
	fs.Var(&c.OverloadTarget, "overload-target", "audit backlog above which new sentences are refused while it lasts twice as long (default 500ms; -1s never refuses)")
	fs.Var(&c.ShutdownTimeout, "shutdown-timeout", "grace period for in-flight requests on shutdown (default 10s)")
	fs.Var(&c.AuditRetention, "audit-retention", "drop audit records older than this, by month (default 0: keep)")
	fs.StringVar(&c.UsageRates, "usage-rates", "", "prices, e.g. cpu_core_hour=0.02,memory_gib_hour=0.005,intent=0.0001,currency=EUR")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate (chain) for the API and the MQTT broker; with --tls-key both speak TLS only")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For names the client")
	fs.IntVar(&c.ConversationWindow, "conversation-window", 0, "recent turns kept per conversation for follow-ups (default 5)")
	fs.Var(&c.ConversationTTL, "conversation-ttl", "how long a conversation's turns stay usable (default 5m)")
	fs.StringVar(&c.LLMBackend, "llm-backend", "", "language model API for the llm pipelines: ollama or openai (default none)")
	fs.StringVar(&c.LLMURL, "llm-url", "", "model server URL, e.g. http://127.0.0.1:11434 or https://host/v1")
	fs.StringVar(&c.LLMModel, "llm-model", "", "model name")
	fs.StringVar(&c.LLMAPIKey, "llm-api-key", "", "bearer token for the model server (prefer the environment)")
	fs.Var(&c.LLMTimeout, "llm-timeout", "bound on one model call (default 20s)")
	fs.StringVar(&c.ParserPlugin, "parser-plugin", "", "parser plugin binary for the plugin pipeline (default none)")
	fs.IntVar(&c.MaxConnections, "max-connections", 0, "concurrent API connections at most (default 4096)")
	fs.IntVar(&c.MaxRequestsPerAddress, "max-requests-per-address", 0, "requests one client address may have in flight, over every connection and HTTP/2 stream (default 512)")
	fs.IntVar(&c.DeviceBurst, "device-burst", 0, "calls a voice device may make at once (default 30)")
	fs.Float64Var(&c.DeviceRate, "device-rate", 0, "calls a second a voice device may sustain (default 5)")
	fs.IntVar(&c.UserBurst, "user-burst", 0, "calls a user, or the voice devices of one home together, may make at once (default 100)")
	fs.Float64Var(&c.UserRate, "user-rate", 0, "calls a second a user, or the voice devices of one home together, may sustain (default 20)")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", false, "mark dashboard cookies Secure on plain HTTP, behind a TLS-terminating proxy")
	fs.StringVar(&c.PublicURL, "public-url", "", "central's address as devices and people reach it, e.g. https://central.example (default: the address central listens on, or a loopback Host when it listens on every interface)")
	fs.Var(&c.PairingTTL, "pairing-ttl", "how long a device's pairing codes live (default 10m)")
	fs.Var(&c.PairingInterval, "pairing-interval", "whole seconds a pairing device waits between polls (default 5s)")
	fs.BoolVar(&c.AutoConfirmRegistrations, "auto-confirm-registrations", false, "development and load runs only: accounts work without the confirmation mail, which tells registered addresses from free ones")
	// Every flag names its environment variable, so --help lists both.
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		if slices.Contains(secretEnv, env) {
			f.Usage += fmt.Sprintf(" (env %s or %s%s)", env, env, envfile.Suffix)
		} else {
			f.Usage += fmt.Sprintf(" (env %s)", env)
		}
	})
}

func applyFlags(dst, fl *config, set map[string]bool) {
	copySet(set, map[string]flagPair[string]{
		"http-addr":          {&dst.HTTPAddr, &fl.HTTPAddr},
		"mqtt-addr":          {&dst.MQTTAddr, &fl.MQTTAddr},
		"metrics-addr":       {&dst.MetricsAddr, &fl.MetricsAddr},
		"mqtt-advertise-url": {&dst.MQTTAdvertise, &fl.MQTTAdvertise},
		"database-url":       {&dst.DatabaseURL, &fl.DatabaseURL},
		"log-level":          {&dst.LogLevel, &fl.LogLevel},
		"jwt-issuer":         {&dst.Issuer, &fl.Issuer},
		"jwt-audience":       {&dst.Audience, &fl.Audience},
		"usage-rates":        {&dst.UsageRates, &fl.UsageRates},
		"tls-cert":           {&dst.TLSCert, &fl.TLSCert},
		"tls-key":            {&dst.TLSKey, &fl.TLSKey},
		"trusted-proxies":    {&dst.TrustedProxies, &fl.TrustedProxies},
		"llm-backend":        {&dst.LLMBackend, &fl.LLMBackend},
		"llm-url":            {&dst.LLMURL, &fl.LLMURL},
		"llm-model":          {&dst.LLMModel, &fl.LLMModel},
		"llm-api-key":        {&dst.LLMAPIKey, &fl.LLMAPIKey},
		"parser-plugin":      {&dst.ParserPlugin, &fl.ParserPlugin},
		"public-url":         {&dst.PublicURL, &fl.PublicURL},
	})
	copySet(set, map[string]flagPair[duration]{
		"access-token-ttl":  {&dst.AccessTTL, &fl.AccessTTL},
		"refresh-token-ttl": {&dst.RefreshTTL, &fl.RefreshTTL},
		"command-timeout":   {&dst.CommandTimeout, &fl.CommandTimeout},
		"overload-target":   {&dst.OverloadTarget, &fl.OverloadTarget},
		"shutdown-timeout":  {&dst.ShutdownTimeout, &fl.ShutdownTimeout},
		"audit-retention":   {&dst.AuditRetention, &fl.AuditRetention},
		"conversation-ttl":  {&dst.ConversationTTL, &fl.ConversationTTL},
		"llm-timeout":       {&dst.LLMTimeout, &fl.LLMTimeout},
		"pairing-ttl":       {&dst.PairingTTL, &fl.PairingTTL},
		"pairing-interval":  {&dst.PairingInterval, &fl.PairingInterval},
	})
	copySet(set, map[string]flagPair[int]{
		"conversation-window":      {&dst.ConversationWindow, &fl.ConversationWindow},
		"max-connections":          {&dst.MaxConnections, &fl.MaxConnections},
		"max-requests-per-address": {&dst.MaxRequestsPerAddress, &fl.MaxRequestsPerAddress},
		"device-burst":             {&dst.DeviceBurst, &fl.DeviceBurst},
		"user-burst":               {&dst.UserBurst, &fl.UserBurst},
	})
	copySet(set, map[string]flagPair[float64]{
		"device-rate": {&dst.DeviceRate, &fl.DeviceRate},
		"user-rate":   {&dst.UserRate, &fl.UserRate},
	})
	copySet(set, map[string]flagPair[bool]{
		"secure-cookies":             {&dst.SecureCookies, &fl.SecureCookies},
		"auto-confirm-registrations": {&dst.AutoConfirmRegistrations, &fl.AutoConfirmRegistrations},
	})
	applyMQTTLimitFlags(&dst.MQTT, &fl.MQTT, set)
	applyMQTTSideFlags(&dst.mqttSideConfig, &fl.mqttSideConfig, set)
}

// flagPair is a setting in the effective config and in the flags.
type flagPair[T any] struct{ dst, src *T }

// copySet copies the settings whose flag was set.
func copySet[T any](set map[string]bool, pairs map[string]flagPair[T]) {
	for name, p := range pairs {
		if set[name] {
			*p.dst = *p.src
		}
	}
}

func applyEnv(c *config, getenv func(string) string) error {
	str := map[string]*string{
		"HOMEPLANE_HTTP_ADDR":          &c.HTTPAddr,
		"HOMEPLANE_MQTT_ADDR":          &c.MQTTAddr,
		"HOMEPLANE_METRICS_ADDR":       &c.MetricsAddr,
		"HOMEPLANE_MQTT_ADVERTISE_URL": &c.MQTTAdvertise,
		"HOMEPLANE_DATABASE_URL":       &c.DatabaseURL,
		"HOMEPLANE_LOG_LEVEL":          &c.LogLevel,
		"HOMEPLANE_JWT_ISSUER":         &c.Issuer,
		"HOMEPLANE_JWT_AUDIENCE":       &c.Audience,
		"HOMEPLANE_USAGE_RATES":        &c.UsageRates,
		"HOMEPLANE_TLS_CERT":           &c.TLSCert,
		"HOMEPLANE_TLS_KEY":            &c.TLSKey,
		"HOMEPLANE_TRUSTED_PROXIES":    &c.TrustedProxies,
		"HOMEPLANE_LLM_BACKEND":        &c.LLMBackend,
		"HOMEPLANE_LLM_URL":            &c.LLMURL,
		"HOMEPLANE_LLM_MODEL":          &c.LLMModel,
		"HOMEPLANE_LLM_API_KEY":        &c.LLMAPIKey,
		"HOMEPLANE_PARSER_PLUGIN":      &c.ParserPlugin,
		"HOMEPLANE_PUBLIC_URL":         &c.PublicURL,
	}
	for k, p := range str {
		if v := getenv(k); v != "" {
			*p = v
		}
	}
	errs := envInto(getenv, map[string]*duration{
		"HOMEPLANE_ACCESS_TOKEN_TTL":  &c.AccessTTL,
		"HOMEPLANE_REFRESH_TOKEN_TTL": &c.RefreshTTL,
		"HOMEPLANE_COMMAND_TIMEOUT":   &c.CommandTimeout,
		"HOMEPLANE_SHUTDOWN_TIMEOUT":  &c.ShutdownTimeout,
		"HOMEPLANE_AUDIT_RETENTION":   &c.AuditRetention,
		"HOMEPLANE_CONVERSATION_TTL":  &c.ConversationTTL,
		"HOMEPLANE_LLM_TIMEOUT":       &c.LLMTimeout,
		"HOMEPLANE_PAIRING_TTL":       &c.PairingTTL,
		"HOMEPLANE_PAIRING_INTERVAL":  &c.PairingInterval,
		"HOMEPLANE_OVERLOAD_TARGET":   &c.OverloadTarget,
	}, func(v string) (duration, error) {
		var d duration
		return d, d.Set(v)
	})
	errs = append(errs, envInto(getenv, map[string]*int{
		"HOMEPLANE_CONVERSATION_WINDOW":      &c.ConversationWindow,
		"HOMEPLANE_MAX_CONNECTIONS":          &c.MaxConnections,
		"HOMEPLANE_MAX_REQUESTS_PER_ADDRESS": &c.MaxRequestsPerAddress,
		"HOMEPLANE_DEVICE_BURST":             &c.DeviceBurst,
		"HOMEPLANE_USER_BURST":               &c.UserBurst,
	}, strconv.Atoi)...)
	errs = append(errs, envInto(getenv, map[string]*float64{"HOMEPLANE_DEVICE_RATE": &c.DeviceRate, "HOMEPLANE_USER_RATE": &c.UserRate},
		func(v string) (float64, error) { return strconv.ParseFloat(v, 64) })...)
	errs = append(errs, envInto(getenv, map[string]*bool{
		"HOMEPLANE_SECURE_COOKIES":             &c.SecureCookies,
		"HOMEPLANE_AUTO_CONFIRM_REGISTRATIONS": &c.AutoConfirmRegistrations,
	}, strconv.ParseBool)...)
	errs = append(errs, applyMQTTLimitEnv(&c.MQTT, getenv))
	applyMQTTSideEnv(&c.mqttSideConfig, getenv)
	return errors.Join(errs...)
}

// envInto parses the environment variables that are set into their
// settings, and returns a problem for each one that does not parse.
func envInto[T any](getenv func(string) string, vars map[string]*T, parse func(string) (T, error)) []error {
	var errs []error
	for k, p := range vars {
		if v := getenv(k); v != "" {
			x, err := parse(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
				continue
			}
			*p = x
		}
	}
	return errs
}

func readConfigFile(path string, c *config) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(io.LimitReader(f, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

func (c config) validate() error {
	var errs []error
	for name, addr := range map[string]string{"http-addr": c.HTTPAddr, "mqtt-addr": c.MQTTAddr, "metrics-addr": c.MetricsAddr} {
		if name == "metrics-addr" && metricsDisabled(addr) {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, addr, err))
		}
	}
	if _, err := c.MQTT.options(); err != nil {
		errs = append(errs, err)
	}
	if err := c.mqttSideConfig.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("database-url is required (or HOMEPLANE_DATABASE_URL)"))
	} else if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, errors.New("database-url must be a postgres:// URL"))
	}
	if c.MQTTAdvertise != "" {
		if u, err := url.Parse(c.MQTTAdvertise); err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "tls") {
			errs = append(errs, errors.New("mqtt-advertise-url must be a tcp:// or tls:// URL"))
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("public-url must be an http:// or https:// URL"))
		}
	}
	if p := time.Duration(c.PairingInterval); p < 0 || p%time.Second != 0 || p > time.Minute {
		errs = append(errs, errors.New("pairing-interval must be whole seconds, at most 1m"))
	}
	if p := time.Duration(c.PairingTTL); p != 0 && (p < 10*time.Second || p > time.Hour) {
		errs = append(errs, errors.New("pairing-ttl must be 10s to 1h"))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.Issuer == "" || c.Audience == "" {
		errs = append(errs, errors.New("jwt-issuer and jwt-audience must not be empty"))
	}
	if c.AccessTTL < duration(time.Minute) || c.AccessTTL > duration(24*time.Hour) {
		errs = append(errs, errors.New("access-token-ttl must be between 1m and 24h"))
	}
	if c.RefreshTTL < c.AccessTTL {
		errs = append(errs, errors.New("refresh-token-ttl must not be shorter than access-token-ttl"))
	}
	if c.CommandTimeout < duration(100*time.Millisecond) || c.CommandTimeout > duration(time.Minute) {
		errs = append(errs, errors.New("command-timeout must be between 100ms and 1m"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown-timeout must be positive"))
	}
	if c.AuditRetention < 0 || (c.AuditRetention > 0 && c.AuditRetention < duration(31*24*time.Hour)) {
		errs = append(errs, errors.New("audit-retention must be 0 (keep) or at least 744h (a month)"))
	}
	if _, err := usage.ParseRates(c.UsageRates); err != nil {
		errs = append(errs, fmt.Errorf("usage-rates: %w", err))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key go together"))
	}
	if _, err := c.proxies(); err != nil {
		errs = append(errs, err)
	}
	switch c.LLMBackend {
	case "":
	case "ollama", "openai":
		if u, err := url.Parse(c.LLMURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || c.LLMModel == "" {
			errs = append(errs, errors.New("llm-backend needs an http(s) llm-url and an llm-model"))
		}
	default:
		errs = append(errs, errors.New("llm-backend must be ollama or openai"))
	}
	if c.LLMTimeout < 0 || c.LLMTimeout > duration(5*time.Minute) {
		errs = append(errs, errors.New("llm-timeout must be between 0 (default) and 5m"))
	}
	if c.ConversationWindow < 1 || c.ConversationWindow > 50 {
		errs = append(errs, errors.New("conversation-window must be between 1 and 50"))
	}
	if c.ConversationTTL < duration(time.Second) || c.ConversationTTL > duration(24*time.Hour) {
		errs = append(errs, errors.New("conversation-ttl must be between 1s and 24h"))
	}
	if c.MaxConnections < 16 || c.MaxConnections > 1_000_000 {
		errs = append(errs, errors.New("max-connections must be between 16 and 1000000"))
	}
	if c.MaxRequestsPerAddress < 1 || c.MaxRequestsPerAddress > 1_000_000 {
		errs = append(errs, errors.New("max-requests-per-address must be between 1 and 1000000"))
	}
	if c.DeviceBurst < 1 || c.UserBurst < 1 || !(c.DeviceRate > 0) || !(c.UserRate > 0) ||
		math.IsInf(c.DeviceRate, 0) || math.IsInf(c.UserRate, 0) {
		errs = append(errs, errors.New("device-burst, user-burst, device-rate and user-rate must be positive"))
	}
	return errors.Join(errs...)
}

// LogValue masks the database password when the effective config is logged.
func (c config) LogValue() slog.Value {
	db := c.DatabaseURL
	if u, err := url.Parse(db); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		db = u.String()
	}
	return slog.GroupValue(append([]slog.Attr{
		slog.String("http_addr", c.HTTPAddr),
		slog.String("mqtt_addr", c.MQTTAddr),
		slog.String("mqtt_advertise_url", c.MQTTAdvertise),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.Any("mqtt", c.MQTT),
		slog.String("database_url", db),
		slog.String("log_level", c.LogLevel),
		slog.String("access_token_ttl", c.AccessTTL.String()),
		slog.String("command_timeout", c.CommandTimeout.String()),
		slog.Bool("tls", c.TLSCert != ""),
		slog.String("trusted_proxies", c.TrustedProxies),
		slog.String("llm_backend", c.LLMBackend),
		slog.String("llm_url", c.LLMURL),
		slog.String("llm_model", c.LLMModel),
		slog.Bool("llm_api_key_set", c.LLMAPIKey != ""),
		slog.String("parser_plugin", c.ParserPlugin),
		slog.Int("max_connections", c.MaxConnections),
		slog.Int("max_requests_per_address", c.MaxRequestsPerAddress),
		slog.String("device_rate", fmt.Sprintf("%d burst, %g/s", c.DeviceBurst, c.DeviceRate)),
		slog.String("user_rate", fmt.Sprintf("%d burst, %g/s", c.UserBurst, c.UserRate)),
		slog.Bool("secure_cookies", c.SecureCookies),
		slog.Bool("auto_confirm_registrations", c.AutoConfirmRegistrations),
	}, c.mqttSideConfig.logAttrs()...)...)
}

// proxies parses TrustedProxies.
func (c config) proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(c.TrustedProxies, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("trusted-proxies: %q is not a CIDR such as 10.0.0.0/8", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
