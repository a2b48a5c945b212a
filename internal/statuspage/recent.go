package statuspage

import (
	"context"
	"slices"
	"sync"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/pipeline"
)

// RecentConfig bounds what Recent keeps.
type RecentConfig struct {
	// Deploys is how many deploys are kept, the oldest forgotten first.
	// Default 20.
	Deploys int
	// Events is how many events are kept per deploy. Default 200.
	Events int
}

// Recent keeps the events of the latest deploys in memory, for the status
// page. It is safe for concurrent use.
type Recent struct {
	cfg     RecentConfig
	mu      sync.Mutex
	order   []string // deploy IDs, oldest first
	deploys map[string]*Deploy
}

// NewRecent returns an empty record.
func NewRecent(cfg RecentConfig) *Recent {
	if cfg.Deploys <= 0 {
		cfg.Deploys = 20
	}
	if cfg.Events <= 0 {
		cfg.Events = 200
	}
	return &Recent{cfg: cfg, deploys: map[string]*Deploy{}}
}

// Deploy is what is known of one deploy from its events.
type Deploy struct {
	ID          string         `json:"deploy_id"`
	App         string         `json:"app"`
	Env         string         `json:"env"`
	Mode        string         `json:"mode,omitempty"`
	Build       int            `json:"build,omitempty"`
	RequestedBy string         `json:"requested_by,omitempty"`
	First       time.Time      `json:"first"`
	Last        time.Time      `json:"last"`
	Final       events.Type    `json:"final,omitempty"`
	Message     string         `json:"message,omitempty"`
	Error       string         `json:"error,omitempty"`
	Runs        []StepRun      `json:"steps"`
	Events      []events.Event `json:"events"`
	Dropped     int            `json:"events_dropped,omitempty"`
}

// StepRun is one run of a step: a rollback runs steps 9 and 10 again.
type StepRun struct {
	Step  int       `json:"step"`
	Name  string    `json:"name"`
	State string    `json:"state"` // running, ok, failed or interrupted
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitempty"`
	Error string    `json:"error,omitempty"`
}

// Record adds an event.
func (r *Recent) Record(e events.Event) {
	if e.DeployID == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.deploys[e.DeployID]
	if !ok {
		d = &Deploy{ID: e.DeployID, App: e.App, Env: e.Env, First: e.Time}
		r.deploys[e.DeployID] = d
		r.order = append(r.order, e.DeployID)
		if len(r.order) > r.cfg.Deploys {
			delete(r.deploys, r.order[0])
			r.order = r.order[1:]
		}
	}
	d.add(e, r.cfg.Events)
}

func (d *Deploy) add(e events.Event, maxEvents int) {
	if e.Mode != "" {
		d.Mode = e.Mode
	}
	if e.Build > 0 {
		d.Build = e.Build
	}
	if e.RequestedBy != "" {
		d.RequestedBy = e.RequestedBy
	}
	if e.Time.After(d.Last) {
		d.Last = e.Time
	}
	if d.First.IsZero() || e.Time.Before(d.First) {
		d.First = e.Time
	}
	if len(d.Events) < maxEvents {
		d.Events = append(d.Events, e)
	} else {
		d.Dropped++
	}
	switch e.Type {
	case events.StepStarted:
		d.interrupt()
		d.Runs = append(d.Runs, StepRun{Step: e.Step, Name: e.StepName, State: "running", Start: e.Time})
	case events.StepSucceeded, events.StepFailed:
		state := "ok"
		if e.Type == events.StepFailed {
			state = "failed"
		}
		i := len(d.Runs) - 1
		if i < 0 || d.Runs[i].Step != e.Step || d.Runs[i].State != "running" {
			d.Runs = append(d.Runs, StepRun{Step: e.Step, Name: e.StepName, Start: e.Time})
			i++
		}
		d.Runs[i].State, d.Runs[i].End, d.Runs[i].Error = state, e.Time, e.Error
	case events.DeployAccepted, events.DeployQueued, events.DeployStarted:
		if d.Message == "" || e.Type == events.DeployStarted {
			d.Message = e.Message
		}
	}
	if e.Type.Final() {
		d.interrupt()
		d.Final, d.Message, d.Error = e.Type, e.Message, e.Error
	}
}

// interrupt ends the step runs still running: another step began, or the
// deploy ended, without their end being told (the bake step that finds an
// alarm hands over to the rollback's steps).
func (d *Deploy) interrupt() {
	for i := range d.Runs {
		if d.Runs[i].State == "running" {
			d.Runs[i].State = "interrupted"
		}
	}
}

// Deploys returns copies of the deploys kept, newest first.
func (r *Recent) Deploys() []Deploy {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Deploy, 0, len(r.order))
	for _, id := range slices.Backward(r.order) {
		d := *r.deploys[id]
		d.Runs = slices.Clone(d.Runs)
		d.Events = slices.Clone(d.Events)
		out = append(out, d)
	}
	return out
}

// Sink returns a sink that records each event, then passes it to next.
func (r *Recent) Sink(next pipeline.Sink) pipeline.Sink { return recordingSink{r: r, next: next} }

type recordingSink struct {
	r    *Recent
	next pipeline.Sink
}

func (s recordingSink) Publish(ctx context.Context, e events.Event) error {
	s.r.Record(e)
	return s.next.Publish(ctx, e)
}
