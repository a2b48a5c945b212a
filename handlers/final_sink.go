package handlers

import (
	"context"
	"sync"

	"ecs-deploy/events"
	"ecs-deploy/pipeline"
)

// finalSink passes a request's events on, filling in its project and who
// asked where the pipeline left them empty, and holds back the request's
// own final event: the answer stage publishes it and records it, kept as
// unpublished if SNS refuses it.
type finalSink struct {
	next                 pipeline.Sink
	deployID             string
	project, requestedBy string

	mu   sync.Mutex
	last *events.Event
}

func (s *finalSink) Publish(ctx context.Context, e events.Event) error {
	if e.DeployID == s.deployID {
		if e.Project == "" {
			e.Project = s.project
		}
		if e.RequestedBy == "" {
			e.RequestedBy = s.requestedBy
		}
		if e.Type.Final() {
			s.mu.Lock()
			s.last = &e
			s.mu.Unlock()
			return nil
		}
	}
	return s.next.Publish(ctx, e)
}

func (s *finalSink) final() (events.Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return events.Event{}, false
	}
	return *s.last, true
}
