package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"ecs-deploy/events"
	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/pipeline"
)

// ResultRecorder records deploy results; every artifactdb.Store is one.
type ResultRecorder interface {
	RecordResult(ctx context.Context, r artifactdb.Result) error
}

// RecordedEvents are the event types RecordResults records: the filter
// policy of the artifactdb role's queue.
var RecordedEvents = []events.Type{events.DeploySucceeded, events.DeployFailed, events.DeployRolledBack}

// RecordResults is the watermill handler of the daemon's artifactdb role:
// it records success on deploy.succeeded and failure on deploy.failed and
// deploy.rolled_back, for deploys (modes deploy, resume, start-over; not
// plan, rollback or abort). The result carries the final event's time, so
// a redelivered or late event leaves the store as it was.
type RecordResults struct {
	Store ResultRecorder
	// Project returns the ArtifactDB project of an event that does not
	// carry one (events.Event.Project). Optional.
	Project func(ctx context.Context, e events.Event) (string, error)
}

// Handle handles one event message.
func (h RecordResults) Handle(msg *message.Message) error {
	ctx := msg.Context()
	e, err := DecodeEvent(msg.Payload)
	if err != nil {
		return err
	}
	var outcome artifactdb.Outcome
	switch e.Type {
	case events.DeploySucceeded:
		outcome = artifactdb.Success
	case events.DeployFailed, events.DeployRolledBack:
		outcome = artifactdb.Failure
	default:
		return nil
	}
	switch e.Mode {
	case "", string(pipeline.ModeDeploy), string(pipeline.ModeResume), string(pipeline.ModeStartOver):
	default:
		return nil
	}
	log := zerolog.Ctx(ctx).With().Str("deploy_id", e.DeployID).Str("event_type", string(e.Type)).Logger()
	if e.Build <= 0 || e.ConfigSHA == "" {
		log.Info().Msg("artifactdb: the deploy ended before its build and config were known; nothing to record")
		return nil
	}
	if e.Time.IsZero() {
		return fmt.Errorf("%w: event of deploy %s has no time", ErrRejected, e.DeployID)
	}
	project := e.Project
	if project == "" && h.Project != nil {
		if project, err = h.Project(ctx, e); err != nil {
			return fmt.Errorf("ArtifactDB project of %s: %w", e.App, err)
		}
	}
	if project == "" {
		return fmt.Errorf("%w: event of deploy %s names no ArtifactDB project", ErrRejected, e.DeployID)
	}
	r := artifactdb.Result{Project: project, Build: e.Build, Env: e.Env, ConfigSHA: e.ConfigSHA, Outcome: outcome, EndedAt: e.Time}
	if err := h.Store.RecordResult(ctx, r); err != nil {
		if errors.Is(err, pipeline.ErrArtifactNotFound) {
			return fmt.Errorf("%w: %v", ErrRejected, err)
		}
		return err
	}
	log.Info().Str("tag", r.Tag()).Str("outcome", string(outcome)).Int("build", r.Build).Msg("artifactdb: recorded the result")
	return nil
}
