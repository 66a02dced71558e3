package postgres

// QueuedTurns reports how many context turns wait for a write.
func QueuedTurns(s *ConversationStore) int {
	s.turns.mu.Lock()
	defer s.turns.mu.Unlock()
	return len(s.turns.queue)
}
