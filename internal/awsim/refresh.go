package awsim

// refresh recomputes what is derived from the tasks and targets: counts,
// task set stability, and the downtime record. Callers hold s.mu.
func (s *Server) refresh() {
	for _, c := range s.clusters {
		c.RunningTasksCount, c.PendingTasksCount, c.ActiveServicesCount = 0, 0, 0
	}
	for _, svc := range s.services {
		svc.RunningCount, svc.PendingCount = 0, 0
		for _, ts := range svc.TaskSets {
			s.refreshTaskSet(ts)
			svc.RunningCount += ts.RunningCount
			svc.PendingCount += ts.PendingCount
		}
		if svc.Status == "ACTIVE" {
			svc.cluster.ActiveServicesCount++
		}
		svc.cluster.RunningTasksCount += svc.RunningCount
		svc.cluster.PendingTasksCount += svc.PendingCount
	}
	s.checkDowntime()
}

func (s *Server) refreshTaskSet(ts *taskSet) {
	ts.ComputedDesiredCount = ts.computedDesired()
	ts.RunningCount, ts.PendingCount = 0, 0
	stopping, healthy := false, true
	for _, t := range ts.tasks {
		switch {
		case t.DesiredStatus != "RUNNING":
			if t.LastStatus != "STOPPED" {
				stopping = true
			}
		case t.LastStatus == "RUNNING":
			ts.RunningCount++
			if !s.targetsHealthy(t) {
				healthy = false
			}
		default:
			ts.PendingCount++
		}
	}
	status := "STABILIZING"
	if ts.RunningCount == ts.ComputedDesiredCount && ts.PendingCount == 0 && !stopping && healthy {
		status = "STEADY_STATE"
	}
	if status != ts.StabilityStatus {
		ts.StabilityStatus = status
		ts.StabilityStatusAt = epoch(s.now)
	}
}

// targetsHealthy says whether every target of t passes its health check.
func (s *Server) targetsHealthy(t *task) bool {
	for _, tg := range t.targets {
		tgt, ok := tg.targets[targetKey(t.ip, portOf(t.taskSet, tg))]
		if !ok || tgt.State != "healthy" {
			return false
		}
	}
	return true
}
