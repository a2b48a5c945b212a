// Package metrics exposes the daemon's Prometheus metrics: deploys by
// outcome, step durations, deploys in flight, and the age of the oldest
// request message the daemon holds.
package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"ecs-deploy/events"
	"ecs-deploy/handlers"
	"ecs-deploy/pipeline"
)

// Metrics implements handlers.Metrics and wraps the event sink to time steps.
type Metrics struct {
	outcomes *prometheus.CounterVec
	steps    *prometheus.HistogramVec
	inFlight prometheus.Gauge
	oldest   prometheus.GaugeFunc

	mu   sync.Mutex
	held map[string]time.Time // message UUID to sent time
	// started maps a deploy to its steps' start times. A deploy's entry
	// goes when it ends (its final event) and, for a deploy that stopped
	// without one, after stepStateTTL.
	started map[string]map[string]time.Time
}

// stepStateTTL is how long the start of a step that never ended is kept.
const stepStateTTL = 24 * time.Hour

// New registers the metrics on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecs_deploy_requests_total",
			Help: "Deploy requests handled, by outcome."}, []string{"outcome"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ecs_deploy_step_duration_seconds",
			Help: "How long each deploy step took.", Buckets: prometheus.ExponentialBuckets(0.5, 2, 12)}, []string{"step", "result"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ecs_deploy_in_flight",
			Help: "Deploy requests being handled now."}),
		held: map[string]time.Time{}, started: map[string]map[string]time.Time{},
	}
	m.oldest = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ecs_deploy_oldest_message_age_seconds",
		Help: "Age of the oldest request message this daemon holds now, running or waiting for a lock."}, m.oldestAge)
	reg.MustRegister(m.outcomes, m.steps, m.inFlight, m.oldest)
	return m
}

var _ handlers.Metrics = (*Metrics)(nil)

func (m *Metrics) Started(msg *message.Message) {
	m.inFlight.Inc()
	if sent, ok := handlers.SentAt(msg); ok {
		m.mu.Lock()
		m.held[msg.UUID] = sent
		m.mu.Unlock()
	}
}

// Finished forgets the message: the handler returns only once it no
// longer holds it (acked, released, or left to come back).
func (m *Metrics) Finished(msg *message.Message, outcome string) {
	m.inFlight.Dec()
	m.outcomes.WithLabelValues(outcome).Inc()
	m.mu.Lock()
	delete(m.held, msg.UUID)
	m.mu.Unlock()
}

func (m *Metrics) oldestAge() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var oldest time.Time
	for _, t := range m.held {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return time.Since(oldest).Seconds()
}

// Sink times steps from the events passing through to next.
func (m *Metrics) Sink(next pipeline.Sink) pipeline.Sink { return stepTimer{m: m, next: next} }

type stepTimer struct {
	m    *Metrics
	next pipeline.Sink
}

func (s stepTimer) Publish(ctx context.Context, e events.Event) error {
	s.m.observe(e)
	return s.next.Publish(ctx, e)
}

func (m *Metrics) observe(e events.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	steps := m.started[e.DeployID]
	switch {
	case e.Type == events.StepStarted:
		if steps == nil {
			m.prune(e.Time)
			steps = map[string]time.Time{}
			m.started[e.DeployID] = steps
		}
		steps[e.StepName] = e.Time
	case e.Type == events.StepSucceeded || e.Type == events.StepFailed:
		if start, ok := steps[e.StepName]; ok {
			delete(steps, e.StepName)
			result := "succeeded"
			if e.Type == events.StepFailed {
				result = "failed"
			}
			m.steps.WithLabelValues(e.StepName, result).Observe(e.Time.Sub(start).Seconds())
		}
	case e.Type.Final():
		delete(m.started, e.DeployID)
	}
}

// prune drops the step starts of deploys that stopped without ending (a
// shutdown, a crash): nothing else would.
func (m *Metrics) prune(now time.Time) {
	for id, steps := range m.started {
		for name, t := range steps {
			if now.Sub(t) > stepStateTTL {
				delete(steps, name)
			}
		}
		if len(steps) == 0 {
			delete(m.started, id)
		}
	}
}

// trackedSteps is how many step starts are kept, for tests.
func (m *Metrics) trackedSteps() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, steps := range m.started {
		n += len(steps)
	}
	return n
}
