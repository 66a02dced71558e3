package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"

	"github.com/homeplane/homeplane/central/internal/mqttclient"
)

// MQTT modes: central's own broker, or a client of an external one.
const (
	mqttEmbedded = "embedded"
	mqttExternal = "external"
)

// mqttSideConfig chooses where agents connect: the embedded broker (the
// default, one central) or an external broker shared by central replicas.
type mqttSideConfig struct {
	Mode      string `json:"mqtt_mode"`
	BrokerURL string `json:"mqtt_broker_url"`
	ReplicaID string `json:"replica_id"`
	// Username and Password are central's service credentials at the
	// external broker.
	Username string `json:"mqtt_username"`
	Password string `json:"mqtt_password"`
	// AuthAddr serves the broker authentication contract (/mqtt/v1/authn);
	// brokers present AuthToken as a bearer token.
	AuthAddr  string `json:"mqtt_auth_addr"`
	AuthToken string `json:"mqtt_auth_token"`
}

// mqttSideFlags are the mode's flags: name, field, help.
func mqttSideFlags(s *mqttSideConfig) []struct {
	name string
	p    *string
	help string
} {
	return []struct {
		name string
		p    *string
		help string
	}{
		{"mqtt-mode", &s.Mode, "embedded (central's own broker, default) or external (a client of --mqtt-broker-url, for replicas)"},
		{"mqtt-broker-url", &s.BrokerURL, "external broker, tcp://host:port or tls://host:port"},
		{"replica-id", &s.ReplicaID, "this replica's name at the external broker, 1-32 of a-z 0-9 -"},
		{"mqtt-username", &s.Username, "central's service user at the external broker (default homeplane-central)"},
		{"mqtt-password", &s.Password, "central's service password at the external broker (prefer the environment)"},
		{"mqtt-auth-addr", &s.AuthAddr, "address of the broker authentication contract /mqtt/v1/authn (external mode; keep it private)"},
		{"mqtt-auth-token", &s.AuthToken, "bearer token brokers present to the authentication contract (prefer the environment)"},
	}
}

func bindMQTTSide(fs *flag.FlagSet, s *mqttSideConfig) {
	for _, f := range mqttSideFlags(s) {
		fs.StringVar(f.p, f.name, "", f.help)
	}
}

func applyMQTTSideFlags(dst, fl *mqttSideConfig, set map[string]bool) {
	src := mqttSideFlags(fl)
	for i, f := range mqttSideFlags(dst) {
		if set[f.name] {
			*f.p = *src[i].p
		}
	}
}

func applyMQTTSideEnv(s *mqttSideConfig, getenv func(string) string) {
	for _, f := range mqttSideFlags(s) {
		if v := getenv(envName(f.name)); v != "" {
			*f.p = v
		}
	}
}

func (s mqttSideConfig) withDefaults() mqttSideConfig {
	if s.Mode == "" {
		s.Mode = mqttEmbedded
	}
	if s.Username == "" {
		s.Username = "homeplane-central"
	}
	return s
}

func (s mqttSideConfig) validate() error {
	s = s.withDefaults()
	switch s.Mode {
	case mqttEmbedded:
		return nil
	case mqttExternal:
	default:
		return errors.New("mqtt-mode must be embedded or external")
	}
	var errs []error
	if u, err := url.Parse(s.BrokerURL); err != nil || (u.Scheme != "tcp" && u.Scheme != "tls" && u.Scheme != "ssl") || u.Host == "" {
		errs = append(errs, errors.New("external mqtt-mode needs mqtt-broker-url, tcp://host:port or tls://host:port"))
	}
	if !mqttclient.ValidReplicaID(s.ReplicaID) {
		errs = append(errs, errors.New("external mqtt-mode needs replica-id, 1-32 of a-z 0-9 -"))
	}
	if s.Password == "" {
		errs = append(errs, errors.New("external mqtt-mode needs mqtt-password (HOMEPLANE_MQTT_PASSWORD or _FILE)"))
	}
	if _, _, err := net.SplitHostPort(s.AuthAddr); err != nil {
		errs = append(errs, fmt.Errorf("external mqtt-mode needs mqtt-auth-addr host:port: %w", err))
	}
	if len(s.AuthToken) < 16 {
		errs = append(errs, errors.New("external mqtt-mode needs mqtt-auth-token of 16 characters or more (HOMEPLANE_MQTT_AUTH_TOKEN or _FILE)"))
	}
	return errors.Join(errs...)
}

// logAttrs are the mode's settings for the log, secrets masked.
func (s mqttSideConfig) logAttrs() []slog.Attr {
	s = s.withDefaults()
	return []slog.Attr{
		slog.String("mqtt_mode", s.Mode),
		slog.String("mqtt_broker_url", s.BrokerURL),
		slog.String("replica_id", s.ReplicaID),
		slog.String("mqtt_username", s.Username),
		slog.Bool("mqtt_password_set", s.Password != ""),
		slog.String("mqtt_auth_addr", s.AuthAddr),
		slog.Bool("mqtt_auth_token_set", s.AuthToken != ""),
	}
}
