package awsim

import (
	"fmt"
	"slices"
	"sort"
)

// FaultKind is a way the tasks of a task set misbehave.
type FaultKind string

const (
	// FaultTasksExit: each task's essential container exits soon after the
	// task reaches RUNNING; the scheduler keeps replacing them.
	FaultTasksExit FaultKind = "tasks-exit"
	// FaultTargetsUnhealthy: the tasks run but their targets fail health
	// checks: they turn unhealthy after the target group's unhealthy
	// threshold of intervals, and the ECS scheduler stops each such task
	// (once the service's health check grace period has passed) and
	// replaces it with another that fails the same way, so the task set never
	// reaches STEADY_STATE.
	FaultTargetsUnhealthy FaultKind = "targets-unhealthy"
	// FaultNeverStabilize: the tasks never get past PENDING.
	FaultNeverStabilize FaultKind = "never-stabilize"
	// FaultSpotInterruption: each task of the first generation is stopped
	// soon after it reaches RUNNING, as when Spot capacity is reclaimed
	// (stopCode SpotInterruption); its replacement runs on.
	FaultSpotInterruption FaultKind = "spot-interruption"
)

// TaskSetFault makes the task sets created after it is added misbehave.
type TaskSetFault struct {
	Kind FaultKind `json:"kind"`
	// Service limits the fault to task sets of the service with this name.
	// Default "": every service.
	Service string `json:"service,omitempty"`
	// ExitCode is the exit code of a FaultTasksExit container. Default 1.
	ExitCode int `json:"exit_code,omitempty"`
	// StopReason is the stopped reason of a FaultTasksExit task. Default
	// "Essential container in task exited".
	StopReason string `json:"stop_reason,omitempty"`
}

func (f TaskSetFault) exitCode() int {
	if f.ExitCode == 0 {
		return 1
	}
	return f.ExitCode
}

// AddTaskSetFault makes task sets created from now on misbehave as f says.
// The latest fault matching a service wins.
func (s *Server) AddTaskSetFault(f TaskSetFault) error {
	switch f.Kind {
	case FaultTasksExit, FaultTargetsUnhealthy, FaultNeverStabilize, FaultSpotInterruption:
	default:
		return fmt.Errorf("task set fault kind %q is not one of %s, %s, %s, %s", f.Kind, FaultTasksExit, FaultTargetsUnhealthy, FaultNeverStabilize, FaultSpotInterruption)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.taskSetFaults = append(s.taskSetFaults, f)
	return nil
}

// ClearTaskSetFaults stops new task sets from misbehaving; task sets created
// under a fault keep it.
func (s *Server) ClearTaskSetFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.taskSetFaults = nil
}

func (s *Server) faultFor(svc *service) TaskSetFault {
	for i := len(s.taskSetFaults) - 1; i >= 0; i-- {
		if f := s.taskSetFaults[i]; f.Service == "" || f.Service == svc.ServiceName {
			return f
		}
	}
	return TaskSetFault{}
}

// SetTargetHealth makes the targets registered in the target group now fail
// their health checks from now on and turns them unhealthy
// (Target.FailedHealthChecks) at once; the ECS scheduler then stops and
// replaces the tasks behind those targets, as it does on AWS, and their
// replacements pass their checks. With healthy true the targets pass their
// checks from now on: an unhealthy one turns healthy after the target
// group's HealthyThresholdCount intervals, as a recovering target does on
// AWS. Naming targets (their IDs) limits the change to them: one flapping
// target. Draining targets and those of a target group with health checks
// disabled are left alone. It returns an error for an unknown target group.
func (s *Server) SetTargetHealth(targetGroupArn string, healthy bool, targets ...string) error {
	s.lock()
	defer s.unlock()
	tg, ok := s.tgs[targetGroupArn]
	if !ok {
		return fmt.Errorf("target group %s not found", targetGroupArn)
	}
	s.setTargetsFailing(tg, !healthy, targets)
	return nil
}

// FailTargetGroup makes every target of the target group fail its health
// checks, those registered now and later, as a broken health check path
// would, until it is called again with failing false; the replacements the
// scheduler starts fail too. Then they all pass again.
func (s *Server) FailTargetGroup(targetGroupArn string, failing bool) error {
	s.lock()
	defer s.unlock()
	tg, ok := s.tgs[targetGroupArn]
	if !ok {
		return fmt.Errorf("target group %s not found", targetGroupArn)
	}
	tg.failing = failing
	s.setTargetsFailing(tg, failing, nil)
	return nil
}

// setTargetsFailing makes the named targets of tg, or all of them, fail or
// pass their health checks from now on.
func (s *Server) setTargetsFailing(tg *targetGroup, failing bool, targets []string) {
	healthy := !failing
	keys := make([]string, 0, len(tg.targets))
	for k := range tg.targets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t := tg.targets[k]
		if t.State == stateDraining || t.State == stateUnavailable || (len(targets) > 0 && !slices.Contains(targets, t.ID)) {
			continue
		}
		t.failing = !healthy
		switch {
		case !healthy:
			s.setTargetHealth(tg, t, false)
		case t.Reason != reasonRegistering.code:
			t.gen++ // the checks so far no longer count
			s.scheduleHealthCheck(tg, t)
		}
	}
}
