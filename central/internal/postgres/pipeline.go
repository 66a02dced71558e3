package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// PipelineStore keeps which parsers understand each home's sentences.
type PipelineStore struct {
	pool *pgxpool.Pool
}

var _ intent.PipelineStore = (*PipelineStore)(nil)

// NewPipelineStore returns a PipelineStore on pool.
func NewPipelineStore(pool *pgxpool.Pool) *PipelineStore { return &PipelineStore{pool: pool} }

// Pipeline implements intent.PipelineStore; a home without a choice uses
// the rules.
func (s *PipelineStore) Pipeline(ctx context.Context, homeID string) (intent.Pipeline, error) {
	if !isHomeUUID(homeID) {
		return intent.PipelineRules, nil
	}
	var p string
	err := s.pool.QueryRow(ctx, "SELECT pipeline FROM intent_pipelines WHERE home_id = $1", homeID).Scan(&p)
	if errors.Is(err, pgx.ErrNoRows) {
		return intent.PipelineRules, nil
	}
	if err != nil {
		return "", fmt.Errorf("load pipeline: %w", err)
	}
	return intent.Pipeline(p), nil
}

// SetPipeline implements intent.PipelineStore.
func (s *PipelineStore) SetPipeline(ctx context.Context, homeID string, p intent.Pipeline) error {
	if !p.Valid() {
		return fmt.Errorf("pipeline %q: %w", p, intent.ErrUnknownPipeline)
	}
	if !isHomeUUID(homeID) {
		return fmt.Errorf("pipeline: home %q: not a home id", homeID)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO intent_pipelines (home_id, pipeline, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (home_id) DO UPDATE SET pipeline = EXCLUDED.pipeline, updated_at = EXCLUDED.updated_at`, homeID, string(p))
	if err != nil {
		return fmt.Errorf("store pipeline: %w", err)
	}
	return nil
}
