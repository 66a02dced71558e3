package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/broker"
	"github.com/homeplane/homeplane/central/internal/command"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/ingest"
	"github.com/homeplane/homeplane/central/internal/mqttauth"
	"github.com/homeplane/homeplane/central/internal/mqttclient"
)

// mqttSide is central's MQTT side whichever the mode: the router publishes
// on it, ingest subscribes through it, the home service kicks agents with
// it. The embedded broker and the external broker's client implement it.
type mqttSide interface {
	command.Transport
	ingest.Subscriber
	home.Disconnector
	// OnConnection reports agents' connections where the side knows them.
	OnConnection(func(homeID string, connected bool))
	Start(ctx context.Context) error
	Close() error
	Endpoint() string
}

var (
	_ mqttSide = (*broker.Broker)(nil)
	_ mqttSide = (*externalSide)(nil)
)

// newMQTTSide builds the side cfg asks for. creds is asked about agents'
// credentials only after Start.
func newMQTTSide(cfg config, creds broker.Credentials, tlsConfig *tls.Config, logger *slog.Logger, reg prometheus.Registerer) (mqttSide, error) {
	side := cfg.mqttSideConfig.withDefaults()
	if side.Mode == mqttEmbedded {
		opts, err := cfg.MQTT.options()
		if err != nil {
			return nil, err
		}
		opts.Addr, opts.Logger, opts.Registerer, opts.TLSConfig = cfg.MQTTAddr, logger, reg, tlsConfig
		return broker.New(creds, opts)
	}
	client, err := mqttclient.New(mqttclient.Options{
		URL: side.BrokerURL, ReplicaID: side.ReplicaID,
		Username: side.Username, Password: side.Password, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	contract, err := mqttauth.NewHandler(creds, mqttauth.Options{
		Token: side.AuthToken, ServiceUser: side.Username, ServicePassword: side.Password,
		Logger: logger, Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", side.AuthAddr)
	if err != nil {
		return nil, fmt.Errorf("mqtt-auth-addr: %w", err)
	}
	srv := &http.Server{
		Handler: contract, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 8 << 10,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if tlsConfig != nil {
		srv.TLSConfig = tlsConfig.Clone()
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	return &externalSide{Client: client, contract: srv, ln: ln, log: logger}, nil
}

// externalSide is the external broker's client together with the
// authentication contract that broker calls.
type externalSide struct {
	*mqttclient.Client
	contract *http.Server
	ln       net.Listener
	log      *slog.Logger
}

// Start serves the contract first: central's own login at the broker goes
// through it too.
func (e *externalSide) Start(ctx context.Context) error {
	go func() {
		if err := e.contract.Serve(e.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("broker authentication contract stopped", "err", err)
		}
	}()
	e.log.Info("broker authentication contract listening", "addr", e.ln.Addr().String(), "path", mqttauth.Path)
	if err := e.Client.Start(ctx); err != nil {
		_ = e.contract.Close()
		return err
	}
	return nil
}

// Close disconnects from the broker, then stops the contract.
func (e *externalSide) Close() error {
	err := e.Client.Close()
	return errors.Join(err, e.contract.Close())
}
