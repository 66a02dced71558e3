package homeassistant

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// ServiceCaller is the one call Services makes.
type ServiceCaller interface {
	CallService(ctx context.Context, domain, service string, data map[string]any) ([]State, error)
}

var _ ServiceCaller = (*Client)(nil)

// Services calls services for the agent's commands and answers with the
// changed states as they travel to central, named from the registry facts.
// An error that means Home Assistant could not be reached, or is starting,
// wraps ErrUnavailable, so that it is told apart from a refused call.
type Services struct {
	client ServiceCaller
	facts  *Facts
}

// NewServices returns Services calling through client, naming states from facts.
func NewServices(client ServiceCaller, facts *Facts) *Services {
	return &Services{client: client, facts: facts}
}

// CallService calls domain.service with data.
func (s *Services) CallService(ctx context.Context, domain, service string, data map[string]any) ([]*homeplanev1.Entity, error) {
	states, err := s.client.CallService(ctx, domain, service, data)
	out := make([]*homeplanev1.Entity, 0, len(states))
	for _, st := range states {
		out = append(out, s.facts.Entity(st))
	}
	if err != nil && !errors.Is(err, ErrUnavailable) && unreachable(err) {
		return out, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return out, err
}

// unreachable reports whether err means Home Assistant could not be
// reached, rather than that it refused the call.
func unreachable(err error) bool {
	var ne net.Error
	var ue *url.Error
	var oe *net.OpError
	return errors.As(err, &oe) || errors.As(err, &ue) || (errors.As(err, &ne) && !errors.Is(err, context.DeadlineExceeded))
}
