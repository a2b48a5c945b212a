package awsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// Consistency makes the emulator's ECS reads eventually consistent, as the
// ECS API documents itself to be: "the result of an API command you run that
// affects your Amazon ECS resources might not be immediately visible to all
// subsequent commands you run" (API reference, RunTask).
//
// While it is on, each change to a service, its task sets, a task or a task
// definition, whether made by an ECS call or by the emulator itself (a task
// starting or stopping, a drained task set going away), is with even odds
// visible at once or hidden from DescribeServices, DescribeTaskSets,
// ListTasks, DescribeTasks and DescribeTaskDefinition for a lag drawn
// uniformly from (0, Delay] of simulated time. A read that misses a change
// sees the state as it was at an earlier moment, never a mix: changes become
// visible in the order they were made, so a stale answer still keeps every
// invariant the true state keeps (one PRIMARY task set, no task set twice),
// and later reads never go back in time. A created resource is then absent
// (DescribeTaskSets and DescribeTasks list it under failures as MISSING,
// DescribeTaskDefinition fails), a deleted one still present. Writes always
// act on the true state, as on AWS. Other operations (clusters, services
// lists, tags) are always fresh.
type Consistency struct {
	// Delay is the longest a change stays invisible, in simulated time.
	// Zero, the default, turns eventual consistency off: every read is fresh.
	Delay time.Duration `json:"delay"`
	// Seed makes the draws repeatable: the same calls at the same simulated
	// times get the same answers. Default 1.
	Seed uint64 `json:"seed"`
}

// Validate reports fields out of range.
func (c Consistency) Validate() error {
	if c.Delay < 0 {
		return fmt.Errorf("awsim.Consistency.Delay is negative (%v)", c.Delay)
	}
	return nil
}

// consistency is the state behind eventual consistency: what reads were
// last told is true, and the changes still hidden from them.
type consistency struct {
	cfg Consistency
	rng *rand.Rand
	// truth is the JSON of every tracked ECS resource by ARN, as of the last
	// noteECSChanges.
	truth map[string][]byte
	// hidden are the changes some reads may not see yet, oldest first; their
	// visibleAt times never decrease.
	hidden []hiddenChange
	// lastVisibleAt is the visibleAt of the latest change recorded.
	lastVisibleAt time.Time
}

// hiddenChange is one call's or one event's changes, invisible to reads
// before visibleAt.
type hiddenChange struct {
	visibleAt time.Time
	// before holds each changed resource's JSON before the change, by ARN;
	// nil means it did not exist.
	before map[string][]byte
}

func (c *consistency) on() bool { return c.cfg.Delay > 0 }

// SetConsistency turns eventual consistency of ECS reads on (Delay > 0) or
// off (Delay 0). Turning it on starts from the current state, all visible.
func (s *Server) SetConsistency(c Consistency) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	s.lock()
	defer s.unlock()
	if c.Delay == 0 {
		s.consistency = consistency{}
		return nil
	}
	s.consistency = consistency{cfg: c, rng: rand.New(rand.NewPCG(c.Seed, c.Seed^0x5eed)), truth: s.ecsState()}
	return nil
}

// Consistency returns the eventual consistency in force; a zero Delay means
// off.
func (s *Server) Consistency() Consistency {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.consistency.on() {
		return Consistency{}
	}
	return s.consistency.cfg
}

// ecsState returns the JSON of every resource whose reads can be stale: the
// services (their task sets included), tasks and task definitions.
func (s *Server) ecsState() map[string][]byte {
	m := map[string][]byte{}
	add := func(arn string, v any) {
		if b, err := json.Marshal(v); err == nil {
			m[arn] = b
		}
	}
	for arn, svc := range s.services {
		add(arn, svc)
	}
	for arn, t := range s.tasks {
		add(arn, t)
	}
	for _, revs := range s.taskDefs {
		for _, td := range revs {
			add(td.TaskDefinitionArn, td)
		}
	}
	return m
}

// adoptECSState takes the current state as visible to all reads, without
// hiding anything: for changes made by controls (seeding a scenario) and by
// other services. Callers hold s.mu.
func (s *Server) adoptECSState() {
	if s.consistency.on() {
		s.consistency.truth = s.ecsState()
	}
}

// noteECSChanges records what changed since the state was last noted as one
// change, hidden from reads for a lag drawn from the seeded generator.
// Callers hold s.mu.
func (s *Server) noteECSChanges() {
	c := &s.consistency
	if !c.on() {
		return
	}
	c.forgetVisible(s.now)
	now := s.ecsState()
	before := map[string][]byte{}
	for arn, old := range c.truth {
		if cur, ok := now[arn]; !ok || !bytes.Equal(cur, old) {
			before[arn] = old
		}
	}
	for arn := range now {
		if _, ok := c.truth[arn]; !ok {
			before[arn] = nil
		}
	}
	c.truth = now
	if len(before) == 0 {
		return
	}
	var lag time.Duration
	if c.rng.IntN(2) == 1 {
		lag = time.Duration(1 + c.rng.Int64N(int64(c.cfg.Delay)))
	}
	visibleAt := s.now.Add(lag)
	if visibleAt.Before(c.lastVisibleAt) {
		visibleAt = c.lastVisibleAt
	}
	c.lastVisibleAt = visibleAt
	if visibleAt.After(s.now) {
		c.hidden = append(c.hidden, hiddenChange{visibleAt: visibleAt, before: before})
	}
}

// forgetVisible drops the changes every read sees by now.
func (c *consistency) forgetVisible(now time.Time) {
	i := 0
	for i < len(c.hidden) && !c.hidden[i].visibleAt.After(now) {
		i++
	}
	c.hidden = c.hidden[i:]
}

// view returns the JSON of the resource as a read at now sees it: as it was
// before the oldest change to it still hidden, or else as it is. ok is false
// when the read sees no such resource.
func (c *consistency) view(arn string, now time.Time) (b []byte, ok bool) {
	for _, h := range c.hidden {
		if !h.visibleAt.After(now) {
			continue
		}
		if old, changed := h.before[arn]; changed {
			return old, old != nil
		}
	}
	b, ok = c.truth[arn]
	return b, ok
}

// known lists the ARNs of resources that exist now or that some read may
// still see.
func (c *consistency) known() map[string]bool {
	m := map[string]bool{}
	for arn := range c.truth {
		m[arn] = true
	}
	for _, h := range c.hidden {
		for arn := range h.before {
			m[arn] = true
		}
	}
	return m
}

// consistencyControls serves GET, POST and DELETE /_awsim/consistency.
func (s *Server) consistencyControls(mux *http.ServeMux) {
	type wire struct {
		Delay string `json:"delay"`
		Seed  uint64 `json:"seed"`
	}
	show := func(c Consistency) wire { return wire{Delay: c.Delay.String(), Seed: c.Seed} }
	mux.HandleFunc("GET /_awsim/consistency", func(w http.ResponseWriter, r *http.Request) {
		answer(w, show(s.Consistency()), nil)
	})
	mux.HandleFunc("POST /_awsim/consistency", func(w http.ResponseWriter, r *http.Request) {
		var in wire
		if !readControl(w, r, &in) {
			return
		}
		d, err := time.ParseDuration(in.Delay)
		if err != nil || d <= 0 {
			answer(w, nil, fmt.Errorf("delay %q is not a positive duration", in.Delay))
			return
		}
		if err := s.SetConsistency(Consistency{Delay: d, Seed: in.Seed}); err != nil {
			answer(w, nil, err)
			return
		}
		answer(w, show(s.Consistency()), nil)
	})
	mux.HandleFunc("DELETE /_awsim/consistency", func(w http.ResponseWriter, r *http.Request) {
		answer(w, show(Consistency{}), s.SetConsistency(Consistency{}))
	})
}
