package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/internal/eventbus"
	"ecs-deploy/internal/records"
)

// recordPoll is how often -wait reads the request's record.
var recordPoll = time.Second

// waitForEnd follows a request to its end. The request's record in DynamoDB
// is the authority on the outcome: it is read every second, so a fast
// outcome (rejected, duplicate, plan, queued) is never missed. The
// subscription, when there is one, adds the live progress. Events seen
// twice (same event_id) are shown once.
func waitForEnd(ctx context.Context, timeout time.Duration, req events.Request, correlationID string, follower *eventbus.Follower,
	recs records.Store, p *printer, stderr io.Writer) (int, error) {
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	evs := make(chan events.Event)
	if follower != nil {
		go func() {
			for {
				e, err := follower.Next(waitCtx)
				if err != nil {
					return
				}
				select {
				case evs <- e:
				case <-waitCtx.Done():
					return
				}
			}
		}()
	}
	hash := req.Hash()
	shown := map[string]bool{}
	show := func(e events.Event) {
		if e.EventID != "" && shown[e.EventID] {
			return
		}
		shown[e.EventID] = true
		p.event(e)
	}
	queuedShown := false
	var readErr error
	tick := time.NewTicker(recordPoll)
	defer tick.Stop()
	for {
		select {
		case <-waitCtx.Done():
			if ctx.Err() != nil {
				return exitInterrupted, fmt.Errorf("interrupted: request %s goes on; its record in %s tells how it ends", req.RequestID, recs.Table)
			}
			if readErr != nil {
				return exitTimeout, fmt.Errorf("no end of request %s after %v; its record could not be read: %w", req.RequestID, timeout, readErr)
			}
			return exitTimeout, fmt.Errorf("no end of request %s after %v", req.RequestID, timeout)
		case e := <-evs:
			if e.DeployID != req.RequestID && e.CorrelationID != correlationID {
				continue
			}
			show(e)
			if e.DeployID == req.RequestID && e.Type.Final() {
				return exitCode(e.Type), nil
			}
		case <-tick.C:
			rec, ok, err := recs.Get(waitCtx, req.RequestID)
			if err != nil {
				if readErr == nil && !errors.Is(err, context.Canceled) {
					fmt.Fprintf(stderr, "enqueue: reading the request record (retrying): %v\n", err)
				}
				readErr = err
				continue
			}
			readErr = nil
			switch {
			case !ok:
			case (rec.Hash == hash || rec.Hash == "") && rec.Done():
				show(*rec.Final)
				return exitCode(rec.Final.Type), nil
			case rec.RejectedHash == hash && rec.Rejection != nil:
				show(*rec.Rejection)
				return exitRejected, nil
			case rec.Hash == hash && rec.State == records.StateQueued && !queuedShown:
				queuedShown = true
				if !p.shown[events.DeployQueued] {
					p.event(events.Event{Type: events.DeployQueued, DeployID: req.RequestID, App: req.App, Env: req.Env, Message: rec.Message})
				}
			}
		}
	}
}

func exitCode(t events.Type) int {
	switch t {
	case events.DeploySucceeded:
		return exitOK
	case events.DeployRejected:
		return exitRejected
	case events.DeployRolledBack:
		return exitRolledBack
	}
	return exitFailed
}
