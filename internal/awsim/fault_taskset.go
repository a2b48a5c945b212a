package awsim

import "fmt"

// FaultKind is a way the tasks of a task set misbehave.
type FaultKind string

const (
	// FaultTasksExit: each task's essential container exits soon after the
	// task reaches RUNNING; the scheduler keeps replacing them.
	FaultTasksExit FaultKind = "tasks-exit"
	// FaultTargetsUnhealthy: the tasks run but their targets fail health
	// checks, so the task set never reaches STEADY_STATE.
	FaultTargetsUnhealthy FaultKind = "targets-unhealthy"
	// FaultNeverStabilize: the tasks never get past PENDING.
	FaultNeverStabilize FaultKind = "never-stabilize"
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
	case FaultTasksExit, FaultTargetsUnhealthy, FaultNeverStabilize:
	default:
		return fmt.Errorf("task set fault kind %q is not one of %s, %s, %s", f.Kind, FaultTasksExit, FaultTargetsUnhealthy, FaultNeverStabilize)
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

// SetTargetHealth forces every target registered in the target group now to
// healthy or, with healthy false, unhealthy (Target.FailedHealthChecks), as a
// health check would. It returns an error for an unknown target group.
func (s *Server) SetTargetHealth(targetGroupArn string, healthy bool) error {
	s.lock()
	defer s.unlock()
	tg, ok := s.tgs[targetGroupArn]
	if !ok {
		return fmt.Errorf("target group %s not found", targetGroupArn)
	}
	for _, t := range tg.targets {
		if t.State == "draining" {
			continue
		}
		if healthy {
			t.State, t.Reason, t.Desc = "healthy", "", ""
		} else {
			t.State, t.Reason, t.Desc = "unhealthy", "Target.FailedHealthChecks", "Health checks failed"
		}
	}
	return nil
}
