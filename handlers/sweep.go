package handlers

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"ecs-deploy/internal/records"
	"ecs-deploy/pipeline"
)

// UnpublishedRecords are the records whose final event SNS has not taken
// (*records.Store).
type UnpublishedRecords interface {
	Unpublished(ctx context.Context) ([]records.Record, error)
	Published(ctx context.Context, requestID, eventID string) error
}

// Sweeper publishes again, with their own event IDs, the final events that
// SNS refused, until it takes them. Several daemons may sweep at once: a
// subscriber drops the duplicates by event_id.
type Sweeper struct {
	Records UnpublishedRecords
	Events  pipeline.Sink
	// Interval is how often it looks. Default 1m.
	Interval time.Duration
}

// Run sweeps until ctx ends.
func (s Sweeper) Run(ctx context.Context) {
	interval := s.Interval
	if interval == 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.Sweep(ctx)
	}
}

// Sweep publishes the unpublished final events once.
func (s Sweeper) Sweep(ctx context.Context) {
	log := zerolog.Ctx(ctx)
	recs, err := s.Records.Unpublished(ctx)
	if err != nil {
		log.Warn().Err(err).Msg("sweep for unpublished final events")
		return
	}
	for _, r := range recs {
		if r.Final == nil {
			continue
		}
		if err := s.Events.Publish(ctx, *r.Final); err != nil {
			log.Warn().Err(err).Str("deploy_id", r.RequestID).Msg("publish a final event again")
			continue
		}
		if err := s.Records.Published(ctx, r.RequestID, r.Final.EventID); err != nil {
			log.Warn().Err(err).Str("deploy_id", r.RequestID).Msg("record a final event as published")
			continue
		}
		log.Info().Str("deploy_id", r.RequestID).Str("event_id", r.Final.EventID).Msg("final event published after all")
	}
}
