package awsim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// liveTasks returns the tasks of ts that the scheduler wants running.
func liveTasks(s *Server, ts *taskSet) []*task {
	var out []*task
	for _, t := range ts.tasks {
		if t.DesiredStatus == "RUNNING" {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TaskArn < out[j].TaskArn })
	return out
}

// reconcile starts or stops tasks until ts has its computed desired count,
// and removes a draining task set once its last task has stopped.
func (s *Server) reconcile(ts *taskSet) {
	if _, ok := s.taskSets[ts.TaskSetArn]; !ok {
		return
	}
	desired := ts.computedDesired()
	live := liveTasks(s, ts)
	switch {
	case len(live) < desired && !ts.placeable():
		// No container instance to place it on: the task stays unplaced.
	case len(live) < desired:
		if ts.nextLaunch.After(s.now) {
			s.after(ts.nextLaunch.Sub(s.now), func() { s.reconcile(ts) })
			return
		}
		for range desired - len(live) {
			s.launchTask(ts, false)
		}
	case len(live) > desired:
		// Newest first, as the scheduler scales in.
		sort.Slice(live, func(i, j int) bool { return time.Time(live[i].CreatedAt).After(time.Time(live[j].CreatedAt)) })
		for _, t := range live[:len(live)-desired] {
			s.stopTask(t, "Scaling activity initiated by (deployment "+ts.ID+")", "ServiceSchedulerInitiated", 0)
		}
	}
	if ts.Status == "DRAINING" && !s.hasTasks(ts) {
		s.removeTaskSet(ts)
	}
}

func (s *Server) hasTasks(ts *taskSet) bool {
	for _, t := range ts.tasks {
		if t.LastStatus != "STOPPED" {
			return true
		}
	}
	return false
}

func (s *Server) removeTaskSet(ts *taskSet) {
	delete(s.taskSets, ts.TaskSetArn)
	svc := ts.service
	for i, other := range svc.TaskSets {
		if other == ts {
			svc.TaskSets = append(svc.TaskSets[:i], svc.TaskSets[i+1:]...)
			break
		}
	}
}

// placeable says whether the tasks of ts can be placed: on Fargate, yes;
// on EC2 or EXTERNAL, no, since the emulated clusters have no container
// instances.
func (ts *taskSet) placeable() bool {
	return ts.LaunchType == "FARGATE" || len(ts.CapacityProviderStrategy) > 0
}

// launchTask starts one task of ts. A seeded task starts RUNNING with
// healthy targets; any other goes through PROVISIONING, PENDING and RUNNING
// on the clock.
func (s *Server) launchTask(ts *taskSet, instant bool) *task {
	s.ids++
	id := s.newID(32)
	c := ts.service.cluster
	launchType, provider := ts.LaunchType, ""
	if len(ts.CapacityProviderStrategy) > 0 {
		launchType, provider = "FARGATE", providerFor(ts.CapacityProviderStrategy, ts.launched)
	}
	ts.launched++
	t := &task{
		TaskArn:           s.arn("ecs", "task/"+c.ClusterName+"/"+id),
		ClusterArn:        c.ClusterArn,
		TaskDefinitionArn: ts.taskDef.TaskDefinitionArn,
		LastStatus:        "PROVISIONING",
		DesiredStatus:     "RUNNING",
		StartedBy:         ts.ID,
		Group:             "service:" + ts.service.ServiceName,
		LaunchType:        launchType,
		CapacityProvider:  provider,
		Cpu:               ts.taskDef.Cpu,
		Memory:            ts.taskDef.Memory,
		HealthStatus:      "UNKNOWN",
		CreatedAt:         epoch(s.now),
		Tags:              ts.Tags,
		taskSet:           ts,
		ip:                fmt.Sprintf("10.%d.%d.%d", (s.ids>>16)&0xff, (s.ids>>8)&0xff, s.ids&0xff),
	}
	eni := "eni-attach-" + s.newID(8)
	for _, cs := range ts.taskDef.containers {
		t.Containers = append(t.Containers, container{
			ContainerArn:      s.arn("ecs", "container/"+c.ClusterName+"/"+id+"/"+s.newID(8)),
			TaskArn:           t.TaskArn,
			Name:              cs.Name,
			Image:             cs.Image,
			LastStatus:        "PENDING",
			NetworkInterfaces: []networkInterface{{AttachmentID: eni, PrivateIpv4Address: t.ip}},
		})
	}
	t.Attachments = []attachment{{ID: eni, Type: "ElasticNetworkInterface", Status: "ATTACHED",
		Details: []attachmentDetail{{Name: "privateIPv4Address", Value: t.ip}}}}
	s.tasks[t.TaskArn] = t
	ts.tasks = append(ts.tasks, t)
	if instant {
		s.setRunning(t, true)
		return t
	}
	tm := s.cfg.Timings
	s.after(tm.Provision, func() {
		if t.DesiredStatus == "RUNNING" {
			t.LastStatus = "PENDING"
		}
	})
	if ts.fault.Kind == FaultNeverStabilize {
		return t
	}
	s.after(tm.Provision+tm.Start, func() {
		if t.DesiredStatus == "RUNNING" {
			s.setRunning(t, false)
		}
	})
	return t
}

// setRunning moves t to RUNNING and registers it in its task set's target
// groups; healthy says the targets start healthy (seeding).
func (s *Server) setRunning(t *task, healthy bool) {
	t.LastStatus = "RUNNING"
	t.StartedAt = epochPtr(s.now)
	t.HealthStatus = "HEALTHY"
	for i := range t.Containers {
		t.Containers[i].LastStatus = "RUNNING"
	}
	ts := t.taskSet
	for _, lb := range ts.LoadBalancers {
		tg, ok := s.tgs[lb.TargetGroupArn]
		if !ok {
			continue
		}
		s.registerTarget(tg, t.ip, lb.ContainerPort, t, healthy)
		t.targets = append(t.targets, tg)
	}
	if ts.fault.Kind == FaultTasksExit {
		s.after(s.cfg.Timings.TaskExit, func() {
			if t.DesiredStatus == "RUNNING" {
				reason := ts.fault.StopReason
				if reason == "" {
					reason = "Essential container in task exited"
				}
				s.stopTask(t, reason, "EssentialContainerExited", ts.fault.exitCode())
				ts.nextLaunch = s.now.Add(s.cfg.Timings.Restart)
			}
		})
	}
	if ts.fault.Kind == FaultSpotInterruption && ts.interrupted < ts.computedDesired() {
		// Spot capacity is reclaimed once per task of the first generation;
		// ECS replaces the interrupted tasks, and those run on.
		ts.interrupted++
		s.after(s.cfg.Timings.TaskExit, func() {
			if t.DesiredStatus == "RUNNING" {
				s.stopTask(t, "Your Spot Task was interrupted.", "SpotInterruption", 143)
			}
		})
	}
}

// stopTask stops t: its targets drain first, for the longest deregistration
// delay of their target groups, then it stops. exitCode is the essential
// container's exit code.
func (s *Server) stopTask(t *task, reason, code string, exitCode int) {
	if t.DesiredStatus == "STOPPED" {
		return
	}
	t.DesiredStatus = "STOPPED"
	t.StoppingAt = epochPtr(s.now)
	t.StoppedReason = reason
	t.StopCode = code
	tm := s.cfg.Timings
	var drain time.Duration
	for _, tg := range t.targets {
		if s.deregisterTarget(tg, t.ip, portOf(t.taskSet, tg)) {
			drain = max(drain, tg.deregistrationDelay())
		}
	}
	if t.LastStatus == "RUNNING" {
		t.LastStatus = "DEACTIVATING"
	}
	s.after(drain, func() { t.LastStatus = "STOPPING" })
	s.after(drain+tm.Stop, func() {
		t.LastStatus = "STOPPED"
		t.StoppedAt = epochPtr(s.now)
		t.HealthStatus = "UNKNOWN"
		for i := range t.Containers {
			c := &t.Containers[i]
			c.LastStatus = "STOPPED"
			ec := exitCode
			c.ExitCode = &ec
			if code == "EssentialContainerExited" {
				c.Reason = reason
			}
		}
		s.reconcile(t.taskSet)
		s.after(stoppedTaskRetention, func() { s.forgetTask(t) })
	})
}

// stoppedTaskRetention is how long a stopped task stays describable.
const stoppedTaskRetention = time.Hour

func (s *Server) forgetTask(t *task) {
	delete(s.tasks, t.TaskArn)
	ts := t.taskSet
	for i, other := range ts.tasks {
		if other == t {
			ts.tasks = append(ts.tasks[:i], ts.tasks[i+1:]...)
			break
		}
	}
}

func portOf(ts *taskSet, tg *targetGroup) int {
	for _, lb := range ts.LoadBalancers {
		if lb.TargetGroupArn == tg.TargetGroupArn {
			return lb.ContainerPort
		}
	}
	return 0
}

func (s *Server) ecsListTasks(body []byte) (any, error) {
	var in struct {
		Cluster           string `json:"cluster"`
		ContainerInstance string `json:"containerInstance"`
		ServiceName       string `json:"serviceName"`
		StartedBy         string `json:"startedBy"`
		Family            string `json:"family"`
		DesiredStatus     string `json:"desiredStatus"`
		LaunchType        string `json:"launchType"`
		MaxResults        *int   `json:"maxResults"`
		NextToken         string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	c, err := s.findCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	// startedBy and serviceName each exclude the other filters; the
	// desired status, RUNNING unless given, applies with any of them.
	switch {
	case len(in.StartedBy) > 36:
		return nil, invalidParam("startedBy longer than 36.")
	case in.StartedBy != "" && (in.ServiceName != "" || in.Family != "" || in.LaunchType != "" || in.ContainerInstance != ""):
		return nil, invalidParam("cannot specify startedBy with other arguments")
	case in.ServiceName != "" && (in.Family != "" || in.ContainerInstance != ""):
		return nil, invalidParam("cannot specify serviceName with other arguments")
	}
	if in.DesiredStatus == "" {
		in.DesiredStatus = "RUNNING"
	}
	if in.DesiredStatus != "RUNNING" && in.DesiredStatus != "STOPPED" && in.DesiredStatus != "PENDING" {
		return nil, invalidParam("desiredStatus must be RUNNING, PENDING or STOPPED.")
	}
	if in.ServiceName != "" {
		if _, err := s.findService(c, in.ServiceName); err != nil {
			return nil, err
		}
	}
	arns := []string{}
	for _, t := range s.tasks {
		switch {
		case t.ClusterArn != c.ClusterArn,
			in.ContainerInstance != "", // the emulated clusters have no container instances
			in.ServiceName != "" && t.Group != "service:"+lastPart(in.ServiceName),
			in.StartedBy != "" && t.StartedBy != in.StartedBy,
			in.Family != "" && !strings.Contains(t.TaskDefinitionArn, "task-definition/"+in.Family+":"),
			in.LaunchType != "" && t.LaunchType != in.LaunchType,
			!desiredMatches(t, in.DesiredStatus):
			continue
		}
		arns = append(arns, t.TaskArn)
	}
	sort.Strings(arns)
	items, next, err := page(arns, in.MaxResults, 100, in.NextToken, s.pageLimit)
	if err != nil {
		return nil, err
	}
	return map[string]any{"taskArns": items, "nextToken": omitEmpty(next)}, nil
}

func desiredMatches(t *task, want string) bool {
	if want == "PENDING" {
		return t.DesiredStatus == "RUNNING" && t.LastStatus != "RUNNING"
	}
	return t.DesiredStatus == want
}

func (s *Server) ecsDescribeTasks(body []byte) (any, error) {
	var in struct {
		Cluster string   `json:"cluster"`
		Tasks   []string `json:"tasks"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	c, err := s.findCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	switch {
	case len(in.Tasks) == 0:
		return nil, invalidParam("Tasks cannot be empty.")
	case len(in.Tasks) > 100:
		return nil, invalidParam("taskIds can have at most 100 items.")
	}
	out := []*task{}
	failures := []ecsFailure{}
	for _, ref := range in.Tasks {
		arn := ref
		if !strings.HasPrefix(ref, "arn:") {
			arn = s.arn("ecs", "task/"+c.ClusterName+"/"+ref)
		}
		t, ok := s.tasks[arn]
		if !ok || t.ClusterArn != c.ClusterArn {
			failures = append(failures, ecsFailure{Arn: arn, Reason: "MISSING"})
			continue
		}
		out = append(out, t)
	}
	return map[string]any{"tasks": out, "failures": failures}, nil
}
