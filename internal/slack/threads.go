package slack

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Thread is what the notifier remembers of one deploy.
type Thread struct {
	// Channel and TS locate the deploy's message (bot mode); Channel is the
	// ID Slack answered with, which chat.update needs.
	Channel string `json:"channel,omitempty"`
	TS      string `json:"ts,omitempty"`
	// StartedAt is when the deploy started, for its duration.
	StartedAt time.Time `json:"started_at,omitzero"`
	// FailedStep and FailedStepName come from the step.failed event.
	FailedStep     int    `json:"failed_step,omitempty"`
	FailedStepName string `json:"failed_step_name,omitempty"`
	// Posted holds the keys of the events already told, so a redelivered
	// event is not posted twice (the last 64).
	Posted []string `json:"posted,omitempty"`
	// UpdatedAt is when the thread last changed.
	UpdatedAt time.Time `json:"updated_at"`
}

func (t Thread) posted(key string) bool { return slices.Contains(t.Posted, key) }

func (t *Thread) markPosted(key string) {
	t.Posted = append(t.Posted, key)
	if len(t.Posted) > 64 {
		t.Posted = t.Posted[len(t.Posted)-64:]
	}
}

// ThreadStore keeps a Thread per deploy ID, across events and, for stores
// that persist, across restarts.
type ThreadStore interface {
	Get(ctx context.Context, deployID string) (Thread, bool, error)
	Put(ctx context.Context, deployID string, t Thread) error
}

// MemoryThreads keeps threads in memory, forgetting those untouched for
// TTL (default 48h). A restart forgets all: the next event of a deploy then
// starts a new message.
type MemoryThreads struct {
	TTL time.Duration

	mu      sync.Mutex
	threads map[string]Thread
}

var _ ThreadStore = (*MemoryThreads)(nil)

func (m *MemoryThreads) Get(_ context.Context, deployID string) (Thread, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.threads[deployID]
	return t, ok, nil
}

func (m *MemoryThreads) Put(_ context.Context, deployID string, t Thread) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.threads == nil {
		m.threads = map[string]Thread{}
	}
	ttl := m.TTL
	if ttl == 0 {
		ttl = 48 * time.Hour
	}
	for id, old := range m.threads {
		if t.UpdatedAt.Sub(old.UpdatedAt) > ttl {
			delete(m.threads, id)
		}
	}
	m.threads[deployID] = t
	return nil
}
