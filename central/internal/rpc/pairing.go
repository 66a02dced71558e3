package rpc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"

	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/pairing"
)

// Pairings is what rpc needs from the pairing service (pairing.Service).
type Pairings interface {
	Start(ctx context.Context, clientName string) (pairing.Grant, error)
	Poll(ctx context.Context, deviceCode string) (pairing.Polled, home.Device, string, error)
	Approve(ctx context.Context, a pairing.Actor, userCode, homeID, name, area string) (string, error)
	Deny(ctx context.Context, a pairing.Actor, userCode string) error
}

// PairPath is the dashboard page where a person approves a device; the
// verification URI pairing hands out.
const PairPath = "/pair"

// pairingService serves PairingService; without Deps.Pairings every call
// answers Unimplemented.
type pairingService struct {
	homeplanev1connect.UnimplementedPairingServiceHandler
	s *server
}

var _ homeplanev1connect.PairingServiceHandler = (*pairingService)(nil)

var errNoPairing = connect.NewError(connect.CodeUnimplemented, errors.New("pairing is not served here"))

func (p *pairingService) StartPairing(ctx context.Context, req *connect.Request[homeplanev1.StartPairingRequest]) (*connect.Response[homeplanev1.StartPairingResponse], error) {
	if p.s.deps.Pairings == nil {
		return nil, errNoPairing
	}
	var c check
	c.field("client_name", req.Msg.GetClientName(), false, maxNameChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	if _, _, err := p.s.verificationURIs(ctx, ""); err != nil {
		return nil, err
	}
	g, err := p.s.deps.Pairings.Start(ctx, req.Msg.GetClientName())
	if err != nil {
		return nil, err
	}
	uri, complete, _ := p.s.verificationURIs(ctx, g.UserCode)
	return connect.NewResponse(&homeplanev1.StartPairingResponse{
		DeviceCode: g.DeviceCode, UserCode: g.UserCode, VerificationUri: uri, VerificationUriComplete: complete,
		ExpiresIn: seconds(g.ExpiresIn), Interval: seconds(g.Interval),
	}), nil
}

func (p *pairingService) PollPairing(ctx context.Context, req *connect.Request[homeplanev1.PollPairingRequest]) (*connect.Response[homeplanev1.PollPairingResponse], error) {
	if p.s.deps.Pairings == nil {
		return nil, errNoPairing
	}
	var c check
	c.field("device_code", req.Msg.GetDeviceCode(), true, maxSecretChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	polled, d, token, err := p.s.deps.Pairings.Poll(ctx, req.Msg.GetDeviceCode())
	if err != nil {
		return nil, err
	}
	out := &homeplanev1.PollPairingResponse{Status: pairingStatus[polled.Status], Interval: seconds(polled.Interval)}
	if polled.Status == pairing.StatusApproved {
		out.DeviceToken, out.Device = token, deviceProto(d)
	}
	return connect.NewResponse(out), nil
}

var pairingStatus = map[pairing.Status]homeplanev1.PairingStatus{
	pairing.StatusPending:  homeplanev1.PairingStatus_PAIRING_STATUS_PENDING,
	pairing.StatusSlowDown: homeplanev1.PairingStatus_PAIRING_STATUS_SLOW_DOWN,
	pairing.StatusDenied:   homeplanev1.PairingStatus_PAIRING_STATUS_DENIED,
	pairing.StatusExpired:  homeplanev1.PairingStatus_PAIRING_STATUS_EXPIRED,
	pairing.StatusApproved: homeplanev1.PairingStatus_PAIRING_STATUS_APPROVED,
}

func (p *pairingService) ApprovePairing(ctx context.Context, req *connect.Request[homeplanev1.ApprovePairingRequest]) (*connect.Response[homeplanev1.ApprovePairingResponse], error) {
	if p.s.deps.Pairings == nil {
		return nil, errNoPairing
	}
	m := req.Msg
	var c check
	c.field("user_code", m.GetUserCode(), true, maxNameChars)
	c.field("home_id", m.GetHomeId(), true, maxIDChars)
	c.field("name", m.GetName(), false, maxNameChars)
	c.field("area", m.GetArea(), false, maxNameChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	user, err := userOf(ctx)
	if err != nil {
		return nil, err
	}
	name, err := p.s.deps.Pairings.Approve(ctx, pairing.Actor{UserID: user, RequestID: RequestID(ctx)},
		m.GetUserCode(), m.GetHomeId(), m.GetName(), m.GetArea())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.ApprovePairingResponse{HomeId: m.GetHomeId(), Name: name}), nil
}

func (p *pairingService) DenyPairing(ctx context.Context, req *connect.Request[homeplanev1.DenyPairingRequest]) (*connect.Response[homeplanev1.DenyPairingResponse], error) {
	if p.s.deps.Pairings == nil {
		return nil, errNoPairing
	}
	var c check
	c.field("user_code", req.Msg.GetUserCode(), true, maxNameChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	user, err := userOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.s.deps.Pairings.Deny(ctx, pairing.Actor{UserID: user, RequestID: RequestID(ctx)}, req.Msg.GetUserCode()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.DenyPairingResponse{}), nil
}

func seconds(d time.Duration) int32 { return int32(d / time.Second) }

// errUnnamedHost refuses a pairing whose verification URI central cannot
// name: no public URL, a listen address that names no host, and a Host
// header that is not a loopback name.
var errUnnamedHost = errors.New("central cannot name its address for this request's Host; its operator sets --public-url")

// verificationURIs are the /pair page under central's own address, without
// and with the user code. That address is the public URL; without one, the
// address central listens on when it names a host; and only when it listens
// on every interface, the request's Host, if that is a loopback name such
// as localhost (ADR 0053). A Host chosen by whoever sends the request never
// names the page otherwise.
func (s *server) verificationURIs(ctx context.Context, userCode string) (string, string, error) {
	base := s.publicURL
	if base == "" {
		o, _ := ctx.Value(originKey{}).(origin)
		switch {
		case s.listenHost != "":
			base = o.scheme + "://" + s.listenHost
		case loopbackHost(o.host):
			base = o.scheme + "://" + o.host
		default:
			return "", "", errUnnamedHost
		}
	}
	uri := base + PairPath
	return uri, uri + "?code=" + url.QueryEscape(userCode), nil
}

// listenHost is addr as a URL's host when it names one: not every
// interface, and not a port chosen at random.
func listenHost(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" || port == "0" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return ""
	}
	return net.JoinHostPort(host, port)
}

// loopbackHost reports whether hostport (a Host header) is localhost or
// a loopback address, with an optional port, and nothing else.
func loopbackHost(hostport string) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 || strconv.Itoa(n) != port {
			return false
		}
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback() && !strings.Contains(host, "%")
}

type originKey struct{}

// origin is the scheme and Host a request came with.
type origin struct{ scheme, host string }

// withOrigin keeps the scheme and Host a request came with, for the
// verification URI when central listens on every interface.
func withOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := origin{scheme: "http", host: r.Host}
		if r.TLS != nil {
			o.scheme = "https"
		}
		r = r.WithContext(context.WithValue(r.Context(), originKey{}, o))
		next.ServeHTTP(w, r)
	})
}
