package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/homeplane/homeplane/central/internal/broker"
)

// mqttLimits are the embedded broker's limits, as --mqtt-* flags,
// HOMEPLANE_MQTT_* variables and the "mqtt" object of the config file. Zero
// takes the broker's default, which the flag help shows.
type mqttLimits struct {
	MaxClients           int      `json:"max_clients"`
	MaxPending           int      `json:"max_pending"`
	MaxPendingPerAddress int      `json:"max_pending_per_address"`
	AcceptRate           float64  `json:"accept_rate"`
	AcceptBurst          int      `json:"accept_burst"`
	AddressAcceptRate    float64  `json:"address_accept_rate"`
	AddressAcceptBurst   int      `json:"address_accept_burst"`
	ConnectTimeout       duration `json:"connect_timeout"`
	WriteTimeout         duration `json:"write_timeout"`
	AuthTimeout          duration `json:"auth_timeout"`
	MaxConcurrentAuth    int      `json:"max_concurrent_auth"`
	MaxPacketSize        int      `json:"max_packet_size"`
	MaxInflight          int      `json:"max_inflight"`
	ReceiveMaximum       int      `json:"receive_maximum"`
	ClientWriteBuffer    int      `json:"client_write_buffer"`
	ClientReadBuffer     int      `json:"client_read_buffer"`
	MaxKeepalive         duration `json:"max_keepalive"`
	MaxSessionExpiry     duration `json:"max_session_expiry"`
	MaxMessageExpiry     duration `json:"max_message_expiry"`
}

// mqttLimit is one limit: its flag (after "mqtt-"), its field and default.
type mqttLimit struct {
	name  string
	help  string
	field func(*mqttLimits) flag.Value
	def   func(broker.Options) any
}

var mqttLimitList = []mqttLimit{
	{"max-clients", "authenticated agent connections",
		func(l *mqttLimits) flag.Value { return (*intValue)(&l.MaxClients) }, func(o broker.Options) any { return o.MaxClients }},
	{"max-pending", "connections not yet authenticated, kept apart from max-clients",
		func(l *mqttLimits) flag.Value { return (*intValue)(&l.MaxPending) }, func(o broker.Options) any { return o.MaxPending }},
	{"max-pending-per-address", "connections not yet authenticated from one address (IPv4, IPv6 /64)",
		func(l *mqttLimits) flag.Value { return (*intValue)(&l.MaxPendingPerAddress) }, func(o broker.Options) any { return o.MaxPendingPerAddress }},
	{"accept-rate", "connections accepted per second from all addresses",
		func(l *mqttLimits) flag.Value { return (*floatValue)(&l.AcceptRate) }, func(o broker.Options) any { return o.AcceptRate }},
	{"accept-burst", "burst above accept-rate",
		func(l *mqttLimits) flag.Value { return (*intValue)(&l.AcceptBurst) }, func(o broker.Options) any { return o.AcceptBurst }},
	{"address-accept-rate", "connections accepted per second from one address",
		func(l *mqttLimits) flag.Value { return (*floatValue)(&l.AddressAcceptRate) }, func(o broker.Options) any { return o.AddressAcceptRate }},
	{"address-accept-burst", "burst above address-accept-rate",
		func(l *mqttLimits) flag.Value { return (*intValue)(&l.AddressAcceptBurst) }, func(o broker.Options) any { return o.AddressAcceptBurst }},
	{"connect-timeout", "time from accept (TLS handshake included) to the CONNECT packet",
		func(l *mqttLimits) flag.Value { return &l.ConnectTimeout }, func(o broker.Options) any { return o.ConnectTimeout }},
	{"write-timeout", "bound on one write to an agent; an agent that reads nothing for it is disconnected",
		func(l *mqttLimits) flag.Value { return &l.WriteTimeout }, func(o broker.Options) any { return o.WriteTimeout }},
	{"auth-timeout", "bound on checking one agent's credentials",
		func(l *mqttLimits) flag.Value { return &l.AuthTimeout }, func(o broker.Options) any { return o.AuthTimeout }},
	{"max-concurrent-auth", "credential checks in flight",
		func(l *mqttLimits) flag.Value { return (*intValue)(&l.MaxConcurrentAuth) }, func(o broker.Options) any { return o.MaxConcurrentAuth }},
	{"max-packet-size", "bytes of one packet from an agent",
		func(l *mqttLimits) flag.Value { return (*intValue)(&l.MaxPacketSize) }, func(o broker.Options) any { return o.MaxPacketSize }},
	{"max-inflight", "QoS 1/2 messages held for one agent",
		func(l *mqttLimits) flag.Value { return (*intValue)(&l.MaxInflight) }, func(o broker.Options) any { return o.MaxInflight }},
	{"receive-maximum", "unacknowledged QoS 1/2 publishes one agent may send",
		func(l *mqttLimits) flag.Value { return (*intValue)(&l.ReceiveMaximum) }, func(o broker.Options) any { return o.ReceiveMaximum }},
	{"client-write-buffer", "publishes queued for writing to one agent; 0 follows max-inflight",
		func(l *mqttLimits) flag.Value { return (*intValue)(&l.ClientWriteBuffer) }, func(o broker.Options) any { return o.ClientWriteBuffer }},
	{"client-read-buffer", "bytes of the buffer each agent's connection is read through; larger packets pass it",
		func(l *mqttLimits) flag.Value { return (*intValue)(&l.ClientReadBuffer) }, func(o broker.Options) any { return o.ClientReadBuffer }},
	{"max-keepalive", "keepalive imposed on agents asking for more or none",
		func(l *mqttLimits) flag.Value { return &l.MaxKeepalive }, func(o broker.Options) any { return o.MaxKeepalive }},
	{"max-session-expiry", "how long a disconnected agent's session is kept",
		func(l *mqttLimits) flag.Value { return &l.MaxSessionExpiry }, func(o broker.Options) any { return o.MaxSessionExpiry }},
	{"max-message-expiry", "how long a queued or retained message lives",
		func(l *mqttLimits) flag.Value { return &l.MaxMessageExpiry }, func(o broker.Options) any { return o.MaxMessageExpiry }},
}

func (m mqttLimit) env() string {
	return "HOMEPLANE_MQTT_" + strings.ToUpper(strings.ReplaceAll(m.name, "-", "_"))
}

func bindMQTTLimits(fs *flag.FlagSet, l *mqttLimits) {
	def := broker.Options{}.Defaults()
	for _, m := range mqttLimitList {
		fs.Var(m.field(l), "mqtt-"+m.name, fmt.Sprintf("broker: %s (default %v)", m.help, m.def(def)))
	}
}

func applyMQTTLimitFlags(dst, fl *mqttLimits, set map[string]bool) {
	for _, m := range mqttLimitList {
		if set["mqtt-"+m.name] {
			_ = m.field(dst).Set(m.field(fl).String())
		}
	}
}

func applyMQTTLimitEnv(l *mqttLimits, getenv func(string) string) error {
	var errs []error
	for _, m := range mqttLimitList {
		if v := getenv(m.env()); v != "" {
			if err := m.field(l).Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", m.env(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// options converts the limits to the broker's, reporting every value out
// of range.
func (l mqttLimits) options() (broker.Options, error) {
	var errs []error
	fits := func(name string, v, most int) {
		if v < 0 || v > most {
			errs = append(errs, fmt.Errorf("mqtt-%s must be between 0 (default) and %d", name, most))
		}
	}
	fits("max-packet-size", l.MaxPacketSize, math.MaxUint32)
	fits("max-inflight", l.MaxInflight, math.MaxUint16)
	fits("receive-maximum", l.ReceiveMaximum, math.MaxUint16)
	o := broker.Options{
		MaxClients: l.MaxClients,
		AdmissionOptions: broker.AdmissionOptions{
			MaxPending: l.MaxPending, MaxPendingPerAddress: l.MaxPendingPerAddress,
			AcceptRate: l.AcceptRate, AcceptBurst: l.AcceptBurst,
			AddressAcceptRate: l.AddressAcceptRate, AddressAcceptBurst: l.AddressAcceptBurst,
		},
		ConnectTimeout:    time.Duration(l.ConnectTimeout),
		WriteTimeout:      time.Duration(l.WriteTimeout),
		AuthTimeout:       time.Duration(l.AuthTimeout),
		MaxConcurrentAuth: l.MaxConcurrentAuth,
		MaxPacketSize:     uint32(max(0, min(l.MaxPacketSize, math.MaxUint32))),
		MaxInflight:       uint16(max(0, min(l.MaxInflight, math.MaxUint16))),
		ReceiveMaximum:    uint16(max(0, min(l.ReceiveMaximum, math.MaxUint16))),
		ClientWriteBuffer: l.ClientWriteBuffer,
		ClientReadBuffer:  l.ClientReadBuffer,
		MaxKeepalive:      time.Duration(l.MaxKeepalive),
		MaxSessionExpiry:  time.Duration(l.MaxSessionExpiry),
		MaxMessageExpiry:  time.Duration(l.MaxMessageExpiry),
	}
	if err := o.Check(); err != nil {
		errs = append(errs, fmt.Errorf("mqtt limits: %w", err))
	}
	return o, errors.Join(errs...)
}

// intValue and floatValue are flag.Values over plain fields.
type (
	intValue   int
	floatValue float64
)

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	*v = intValue(n)
	return err
}

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		err = errors.New("not a finite number")
	}
	*v = floatValue(f)
	return err
}

func (v *floatValue) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }
