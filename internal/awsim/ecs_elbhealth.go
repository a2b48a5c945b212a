package awsim

import "time"

// taskFailedHealthChecks is how the ECS service scheduler answers a target of
// task t turning unhealthy in tg: it stops the task, which it then replaces
// like any other stopped task. While the service's health check grace period
// runs, counted from the task's start, the scheduler ignores the failure and
// looks again when the period ends.
func (s *Server) taskFailedHealthChecks(t *task, tg *targetGroup) {
	if t.DesiredStatus != "RUNNING" || t.StartedAt == nil {
		return
	}
	var grace time.Duration
	if g := t.taskSet.service.HealthCheckGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if wait := time.Time(*t.StartedAt).Add(grace).Sub(s.now); wait > 0 {
		key := targetKey(t.ip, portOf(t.taskSet, tg))
		s.after(wait, func() {
			if tgt, ok := tg.targets[key]; ok && tgt.task == t && tgt.State == stateUnhealthy {
				s.taskFailedHealthChecks(t, tg)
			}
		})
		return
	}
	s.stopTask(t, "Task failed ELB health checks in (target-group "+tg.TargetGroupArn+")", "ServiceSchedulerInitiated", 0)
}
