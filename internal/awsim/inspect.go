package awsim

// TaskSetView is what tests read of a task set without going through the API.
type TaskSetView struct {
	ID, Arn, Status, ExternalID, StabilityStatus string
	RunningCount                                 int
}

// TaskSets returns a service's task sets.
func (s *Server) TaskSets(clusterName, serviceName string) []TaskSetView {
	s.lock()
	defer s.unlock()
	svc, ok := s.services[s.arn("ecs", "service/"+clusterName+"/"+serviceName)]
	if !ok {
		return nil
	}
	var out []TaskSetView
	for _, ts := range svc.TaskSets {
		out = append(out, TaskSetView{ID: ts.ID, Arn: ts.TaskSetArn, Status: ts.Status, ExternalID: ts.ExternalID,
			StabilityStatus: ts.StabilityStatus, RunningCount: ts.RunningCount})
	}
	return out
}
