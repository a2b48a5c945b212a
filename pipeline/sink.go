package pipeline

import (
	"context"
	"sync"

	"ecs-deploy/events"
)

// Sink receives the pipeline's events. Publishing is best effort: an error
// is logged and the deploy goes on.
type Sink interface {
	Publish(ctx context.Context, e events.Event) error
}

// MemorySink keeps events in memory, for tests and for the plan command.
type MemorySink struct {
	mu     sync.Mutex
	events []events.Event
}

func (m *MemorySink) Publish(_ context.Context, e events.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}

// Events returns what was published, oldest first.
func (m *MemorySink) Events() []events.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]events.Event(nil), m.events...)
}
