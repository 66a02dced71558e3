// Package enroll makes the agent's one HTTPS call to central: it trades a
// one-time enrollment token for the agent's identity and MQTT credentials.
package enroll

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/homeplane/homeplane/agent/internal/identity"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

var (
	// ErrTokenRejected means central refused the token: unknown, used or expired.
	// Retrying with the same token cannot succeed.
	ErrTokenRejected = errors.New("enroll: enrollment token rejected")
	// ErrUnavailable means central could not be reached or failed; a retry may succeed.
	ErrUnavailable = errors.New("enroll: central unavailable")
	// ErrBadResponse means central answered with an identity the agent cannot use.
	ErrBadResponse = errors.New("enroll: bad response from central")
)

// maxTokenLen bounds the token sent; real tokens are well under it.
const maxTokenLen = 512

// maxResponseBytes bounds the answer read from central.
const maxResponseBytes = 64 << 10

// Enroll trades token for an identity at centralURL. The identity is not
// saved; the caller stores it with identity.Save. A nil httpClient means
// http.DefaultClient.
func Enroll(ctx context.Context, centralURL, token, hostname, version string, httpClient *http.Client) (identity.Identity, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return identity.Identity{}, fmt.Errorf("%w: token is empty", ErrTokenRejected)
	}
	if len(token) > maxTokenLen {
		return identity.Identity{}, fmt.Errorf("%w: token is longer than %d characters", ErrTokenRejected, maxTokenLen)
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	client := homeplanev1connect.NewAgentServiceClient(httpClient, centralURL,
		connect.WithReadMaxBytes(maxResponseBytes))
	resp, err := client.Enroll(ctx, connect.NewRequest(&homeplanev1.EnrollRequest{
		Token:        token,
		Hostname:     hostname,
		AgentVersion: version,
	}))
	if err != nil {
		return identity.Identity{}, classify(err)
	}
	m := resp.Msg
	id := identity.Identity{
		AgentID:      m.GetAgentId(),
		HomeID:       m.GetHomeId(),
		MQTTUsername: m.GetMqttUsername(),
		MQTTPassword: m.GetMqttPassword(),
		MQTTURL:      m.GetMqttUrl(),
		CentralURL:   centralURL,
		EnrolledAt:   time.Now().UTC().Truncate(time.Second),
	}
	if err := id.Validate(); err != nil {
		return identity.Identity{}, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return id, nil
}

// classify turns a Connect error into one of the package's sentinels, keeping
// central's message for the operator.
func classify(err error) error {
	switch connect.CodeOf(err) {
	case connect.CodeUnauthenticated, connect.CodePermissionDenied, connect.CodeNotFound,
		connect.CodeFailedPrecondition, connect.CodeAlreadyExists, connect.CodeInvalidArgument:
		return fmt.Errorf("%w: %w", ErrTokenRejected, err)
	case connect.CodeCanceled, connect.CodeDeadlineExceeded:
		return fmt.Errorf("enroll: %w", err)
	default:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}
