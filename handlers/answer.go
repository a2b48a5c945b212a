package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"ecs-deploy/events"
	"ecs-deploy/internal/records"
)

// answer ends the handling of a message: the final event published and
// recorded (the message is then acked), a rejection published, recorded
// and sent to the dead-letter queue, a finished request's outcome told
// again, or the message left or retried.
func (h *Deploy) answer(in *incoming, out outcome) error {
	ctx := context.WithoutCancel(in.ctx)
	switch {
	case out.reject != nil:
		return h.reject(ctx, in, out)
	case out.err != nil:
		return out.err
	case out.left:
		// Nacked here, so the router's ack is a no-op: the message stays as
		// the handler left it.
		in.msg.Nack()
		return nil
	case out.again != nil:
		return h.tellAgain(ctx, *out.again)
	case out.final != nil:
		return h.finish(ctx, out.job, *out.final)
	}
	return nil
}

// finish publishes the final event and records it. If SNS refuses it, the
// record keeps it as unpublished, to be published again on a redelivery or
// by the Sweeper; the message is acked either way.
func (h *Deploy) finish(ctx context.Context, j *job, final events.Event) error {
	if j == nil {
		return errNoRecord
	}
	final = final.WithID()
	perr := h.Events.Publish(ctx, final)
	if perr != nil {
		zerolog.Ctx(ctx).Warn().Err(perr).Str("event_id", final.EventID).Msg("publish the final event: kept as unpublished")
	}
	j.rec.State, j.rec.Message, j.rec.Final, j.rec.Unpublished = string(final.Type), "", &final, perr != nil
	return h.Records.Save(ctx, j.rec)
}

// tellAgain publishes a finished request's final event again, with the
// same event ID.
func (h *Deploy) tellAgain(ctx context.Context, rec records.Record) error {
	zerolog.Ctx(ctx).Info().Str("state", rec.State).Msg("duplicate of a finished request")
	if err := h.Events.Publish(ctx, *rec.Final); err != nil {
		return err
	}
	if rec.Unpublished {
		return h.Records.Published(ctx, rec.RequestID, rec.Final.EventID)
	}
	return nil
}

// reject publishes deploy.rejected with the reason, records it, and returns
// an error that sends the message to the dead-letter queue. Nothing ran, so
// the sender may fix the request and send it again under the same ID.
func (h *Deploy) reject(ctx context.Context, in *incoming, out outcome) error {
	reason := out.reject
	zerolog.Ctx(ctx).Warn().Err(reason).Msg("request rejected")
	e := h.event(in, out.job, events.DeployRejected, "", reason).WithID()
	perr := h.Events.Publish(ctx, e)
	if perr != nil {
		zerolog.Ctx(ctx).Warn().Err(perr).Msg("publish deploy.rejected")
	}
	var err error
	if j := out.job; j != nil {
		j.rec.State, j.rec.Message, j.rec.Final, j.rec.Unpublished = string(events.DeployRejected), "", &e, perr != nil
		err = h.Records.Save(ctx, j.rec)
	} else if in.req.RequestID != "" {
		rec := records.Record{RequestID: in.req.RequestID, App: in.req.App, Env: in.req.Env, Sender: in.sender, Final: &e, Unpublished: perr != nil}
		if in.req.RequestedBy != "" {
			sum := in.req.Summary()
			rec.Hash, rec.Request = in.req.Hash(), &sum
		}
		err = h.Records.Reject(ctx, rec)
	}
	if err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("record the rejection")
	}
	in.msg.Metadata.Set(metaRejectedReason, reason.Error())
	return reject(reason)
}

func (h *Deploy) event(in *incoming, j *job, t events.Type, message string, err error) events.Event {
	r := in.req
	e := events.Event{Schema: events.EventSchema, Type: t, Time: time.Now().UTC(), DeployID: r.RequestID, App: r.App, Env: r.Env,
		CorrelationID: in.correlationID, Mode: r.Mode, RequestedBy: r.RequestedBy, Message: message}
	if e.Mode == "" && r.App != "" {
		e.Mode = events.ModeDeploy
	}
	if j != nil {
		e.Project = j.project
	}
	if err != nil {
		e.Error = err.Error()
	}
	return e
}

func (h *Deploy) publish(ctx context.Context, e events.Event) {
	if err := h.Events.Publish(ctx, e); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("event_type", string(e.Type)).Msg("publish event")
	}
}

// errNoRecord guards the answer stage against an outcome without a job.
var errNoRecord = errors.New("no record to write the outcome to")
