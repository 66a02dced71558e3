package rpc

import (
	"context"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// agentService serves AgentService: the enrollment token is the credential.
type agentService struct {
	s *server
}

var _ homeplanev1connect.AgentServiceHandler = (*agentService)(nil)

func (a *agentService) Enroll(ctx context.Context, req *connect.Request[homeplanev1.EnrollRequest]) (*connect.Response[homeplanev1.EnrollResponse], error) {
	m := req.Msg
	var c check
	c.field("token", m.GetToken(), true, maxSecretChars)
	c.field("hostname", m.GetHostname(), false, maxHostnameChars)
	c.field("agent_version", m.GetAgentVersion(), false, maxVersionChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	agent, password, err := a.s.deps.Homes.Enroll(ctx, m.GetToken(), m.GetHostname(), m.GetAgentVersion())
	if err != nil {
		// A wrong, used or expired token all look alike to the caller.
		return nil, unauthenticatedOr(err)
	}
	return connect.NewResponse(&homeplanev1.EnrollResponse{
		AgentId:      agent.ID,
		HomeId:       agent.HomeID,
		MqttUsername: agent.ID,
		MqttPassword: password,
		MqttUrl:      a.s.mqttURL,
	}), nil
}
