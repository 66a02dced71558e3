package home

import (
	"context"
	"fmt"
)

// RevokeAgent deletes the agent credentials of one of the owner's homes and
// drops the agent's connection at once; it must enroll again. A home
// without an agent is not an error.
func (s *Service) RevokeAgent(ctx context.Context, ownerID, homeID string) error {
	if err := scoped(ownerID, homeID); err != nil {
		return fmt.Errorf("revoke agent: %w", err)
	}
	agentID, err := s.store.DeleteAgent(ctx, ownerID, homeID)
	if err != nil {
		return fmt.Errorf("revoke agent: %w", err)
	}
	s.agents.deleteIf(func(_ string, a agentCred) bool { return a.homeID == homeID })
	if agentID == "" {
		return nil
	}
	if d := s.opts.Disconnector; d != nil {
		d.Disconnect(agentID)
	}
	s.opts.Logger.InfoContext(ctx, "agent credentials revoked", "home_id", homeID, "agent_id", agentID)
	return nil
}

// RevokeEnrollmentTokens makes every unused enrollment token of one of the
// owner's homes stop working, and returns how many did.
func (s *Service) RevokeEnrollmentTokens(ctx context.Context, ownerID, homeID string) (int, error) {
	if err := scoped(ownerID, homeID); err != nil {
		return 0, fmt.Errorf("revoke enrollment tokens: %w", err)
	}
	n, err := s.store.RevokeEnrollmentTokens(ctx, ownerID, homeID, s.opts.Now().UTC())
	if err != nil {
		return 0, fmt.Errorf("revoke enrollment tokens: %w", err)
	}
	return n, nil
}
