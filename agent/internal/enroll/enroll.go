// Package enroll makes the agent's one HTTPS call to central: it trades a
// one-time enrollment token for the agent's identity and MQTT credentials.
//
// The call is a Connect unary call written out by hand: the Connect protocol
// makes one a single POST of the binary message, answered by the binary
// message or by a JSON error. The agent's memory goal cannot afford the
// Connect library for one call at first boot (ADR 0015); the tests hold it to
// a real Connect handler.
package enroll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/homeplane/homeplane/agent/internal/identity"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
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

// procedure is AgentService.Enroll's path, as the Connect protocol names it.
const procedure = "/homeplane.v1.AgentService/Enroll"

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
	// A redirect would carry the token, in the body, to wherever it points
	// (a 307 or 308 sends it again): enrollment answers only from the
	// address the operator gave (ADR 0056).
	hc := *httpClient
	hc.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		return fmt.Errorf("redirected to %s: not followed", req.URL.Redacted())
	}
	httpClient = &hc
	m := &homeplanev1.EnrollResponse{}
	err := call(ctx, httpClient, strings.TrimRight(centralURL, "/")+procedure, &homeplanev1.EnrollRequest{
		Token:        token,
		Hostname:     hostname,
		AgentVersion: version,
	}, m)
	if err != nil {
		return identity.Identity{}, err
	}
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

// call makes one Connect unary call with the binary codec and decodes the
// answer into resp.
func call(ctx context.Context, c *http.Client, url string, req, resp proto.Message) error {
	body, err := proto.Marshal(req)
	if err != nil {
		return fmt.Errorf("enroll: encode request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	hreq.Header.Set("Content-Type", "application/proto")
	hreq.Header.Set("Connect-Protocol-Version", "1")
	if dl, ok := ctx.Deadline(); ok {
		hreq.Header.Set("Connect-Timeout-Ms", fmt.Sprint(max(time.Until(dl).Milliseconds(), 1)))
	}
	hresp, err := c.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("enroll: %w", ctx.Err())
		}
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer hresp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponseBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("enroll: %w", ctx.Err())
		}
		return fmt.Errorf("%w: reading the answer: %w", ErrUnavailable, err)
	}
	if len(b) > maxResponseBytes {
		return fmt.Errorf("%w: answer larger than %d bytes", ErrBadResponse, maxResponseBytes)
	}
	if hresp.StatusCode != http.StatusOK {
		return callError(hresp, b)
	}
	if ct, _, _ := mime.ParseMediaType(hresp.Header.Get("Content-Type")); ct != "application/proto" {
		return fmt.Errorf("%w: answer is %q, not application/proto", ErrBadResponse, ct)
	}
	if err := proto.Unmarshal(b, resp); err != nil {
		return fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return nil
}

// callError classifies a failed call by its Connect error code, keeping
// central's message for the operator. An answer that is not a Connect error
// (a proxy's page, say) gets the code the protocol derives from its status.
func callError(resp *http.Response, body []byte) error {
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "application/json" ||
		json.Unmarshal(body, &e) != nil || e.Code == "" {
		e.Code, e.Message = codeForStatus(resp.StatusCode), resp.Status
	}
	err := fmt.Errorf("%s: %s", e.Code, e.Message)
	switch e.Code {
	case "unauthenticated", "permission_denied", "not_found", "failed_precondition", "already_exists", "invalid_argument":
		return fmt.Errorf("%w: %w", ErrTokenRejected, err)
	default:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}

// codeForStatus is the Connect protocol's mapping of an HTTP status without
// a Connect error body.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "internal"
	case http.StatusUnauthorized:
		return "unauthenticated"
	case http.StatusForbidden:
		return "permission_denied"
	case http.StatusNotFound:
		return "unimplemented"
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return "unavailable"
	}
	return "unknown"
}
