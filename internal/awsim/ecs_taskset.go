package awsim

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"ecs-deploy/internal/awsproto"
)

type createTaskSetInput struct {
	Cluster                  string                `json:"cluster"`
	Service                  string                `json:"service"`
	ExternalID               string                `json:"externalId"`
	TaskDefinition           string                `json:"taskDefinition"`
	NetworkConfiguration     json.RawMessage       `json:"networkConfiguration"`
	LoadBalancers            []taskSetLoadBalancer `json:"loadBalancers"`
	LaunchType               string                `json:"launchType"`
	CapacityProviderStrategy json.RawMessage       `json:"capacityProviderStrategy"`
	PlatformVersion          string                `json:"platformVersion"`
	Scale                    *scale                `json:"scale"`
	ClientToken              string                `json:"clientToken"`
	Tags                     []ecsTag              `json:"tags"`
}

func (s *Server) createTaskSet(in createTaskSetInput) (*taskSet, error) {
	svc, err := s.findActiveService(in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	if svc.DeploymentController.Type != "EXTERNAL" {
		return nil, invalidParam("Task sets can only be created on services with the EXTERNAL deployment controller.")
	}
	if in.ClientToken != "" {
		for _, ts := range svc.TaskSets {
			if ts.clientToken == in.ClientToken {
				return ts, nil
			}
		}
	}
	if in.TaskDefinition == "" {
		return nil, invalidParam("taskDefinition is required.")
	}
	td, err := s.findTaskDefinition(in.TaskDefinition)
	if err != nil {
		return nil, clientErr("TaskDefinition not found.")
	}
	if td.Status != "ACTIVE" {
		return nil, clientErr("TaskDefinition is inactive.")
	}
	sc := scale{Value: 100, Unit: "PERCENT"}
	if in.Scale != nil {
		sc = *in.Scale
	}
	if err := checkScale(sc); err != nil {
		return nil, err
	}
	if len(in.LaunchType) > 0 && len(in.CapacityProviderStrategy) > 0 {
		return nil, invalidParam("Specifying both a launch type and capacity provider strategy is not supported.")
	}
	if len(in.LoadBalancers) > 5 {
		return nil, invalidParam("A task set can have at most 5 load balancers.")
	}
	for i, lb := range in.LoadBalancers {
		if err := s.checkTaskSetLoadBalancer(td, lb); err != nil {
			return nil, fmt.Errorf("loadBalancers[%d]: %w", i, err)
		}
	}
	launchType := in.LaunchType
	if launchType == "" && len(in.CapacityProviderStrategy) == 0 {
		launchType = svc.LaunchType
	}
	netCfg := in.NetworkConfiguration
	if len(netCfg) == 0 {
		netCfg = svc.NetworkConfiguration
	}
	if td.NetworkMode == "awsvpc" && len(netCfg) == 0 {
		return nil, invalidParam("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	}
	id := fmt.Sprintf("ecs-svc/%019d", s.rng.Uint64()%uint64(math.Pow10(19)))
	ts := &taskSet{
		ID:                       id,
		TaskSetArn:               s.arn("ecs", "task-set/"+svc.cluster.ClusterName+"/"+svc.ServiceName+"/"+id),
		ServiceArn:               svc.ServiceArn,
		ClusterArn:               svc.ClusterArn,
		ExternalID:               in.ExternalID,
		Status:                   "ACTIVE",
		TaskDefinition:           td.TaskDefinitionArn,
		CreatedAt:                epoch(s.now),
		UpdatedAt:                epoch(s.now),
		LaunchType:               launchType,
		CapacityProviderStrategy: in.CapacityProviderStrategy,
		PlatformVersion:          in.PlatformVersion,
		NetworkConfiguration:     netCfg,
		LoadBalancers:            nonNilLBs(in.LoadBalancers),
		Scale:                    sc,
		StabilityStatus:          "STABILIZING",
		StabilityStatusAt:        epoch(s.now),
		Tags:                     in.Tags,
		service:                  svc,
		taskDef:                  td,
		clientToken:              in.ClientToken,
		fault:                    s.faultFor(svc),
	}
	if in.PlatformVersion == "" && launchType == "FARGATE" {
		ts.PlatformVersion = "LATEST"
	}
	svc.TaskSets = append(svc.TaskSets, ts)
	s.taskSets[ts.TaskSetArn] = ts
	s.reconcile(ts)
	return ts, nil
}

func checkScale(sc scale) error {
	if sc.Unit != "PERCENT" {
		return invalidParam("scale.unit must be PERCENT.")
	}
	if sc.Value < 0 || sc.Value > 100 {
		return invalidParam("scale.value must be between 0 and 100.")
	}
	return nil
}

func nonNilLBs(l []taskSetLoadBalancer) []taskSetLoadBalancer {
	if l == nil {
		return []taskSetLoadBalancer{}
	}
	return l
}

func (s *Server) checkTaskSetLoadBalancer(td *taskDefinition, lb taskSetLoadBalancer) error {
	tg, ok := s.tgs[lb.TargetGroupArn]
	if !ok {
		return invalidParam("Unable to find target group %q.", lb.TargetGroupArn)
	}
	if td.NetworkMode == "awsvpc" && tg.TargetType != "ip" {
		return invalidParam("The provided target group %s has target type %s, which is incompatible with the awsvpc network mode specified in the task definition.", tg.TargetGroupArn, tg.TargetType)
	}
	for _, c := range td.containers {
		if c.Name != lb.ContainerName {
			continue
		}
		for _, pm := range c.PortMappings {
			if pm.ContainerPort == lb.ContainerPort {
				return nil
			}
		}
		return invalidParam("The container %s did not have a container port %d defined.", lb.ContainerName, lb.ContainerPort)
	}
	return invalidParam("The container %s does not exist in the task definition.", lb.ContainerName)
}

// findTaskSet resolves a task set of svc by ID or ARN, draining ones included.
func findTaskSet(svc *service, ref string) (*taskSet, error) {
	for _, ts := range svc.TaskSets {
		if ts.ID == ref || ts.TaskSetArn == ref || (!strings.HasPrefix(ref, "arn:") && strings.HasSuffix(ts.ID, "/"+ref)) {
			return ts, nil
		}
	}
	return nil, awsproto.Errorf("TaskSetNotFoundException", "The specified task set %q does not exist.", ref)
}

// computedDesired is the service's desired count times the scale, rounded up.
func (ts *taskSet) computedDesired() int {
	if ts.Status == "DRAINING" {
		return 0
	}
	return int(math.Ceil(float64(ts.service.DesiredCount) * ts.Scale.Value / 100))
}

func (s *Server) ecsCreateTaskSet(body []byte) (any, error) {
	var in createTaskSetInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ts, err := s.createTaskSet(in)
	if err != nil {
		return nil, err
	}
	return map[string]any{"taskSet": ts}, nil
}

func (s *Server) ecsDescribeTaskSets(body []byte) (any, error) {
	var in struct {
		Cluster  string   `json:"cluster"`
		Service  string   `json:"service"`
		TaskSets []string `json:"taskSets"`
		Include  []string `json:"include"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	c, err := s.findCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	svc, err := s.findService(c, in.Service)
	if err != nil {
		return nil, err
	}
	out := []*taskSet{}
	failures := []ecsFailure{}
	if len(in.TaskSets) == 0 {
		out = append(out, svc.TaskSets...)
	}
	for _, ref := range in.TaskSets {
		ts, err := findTaskSet(svc, ref)
		if err != nil {
			failures = append(failures, ecsFailure{Arn: ref, Reason: "MISSING"})
			continue
		}
		out = append(out, ts)
	}
	return map[string]any{"taskSets": out, "failures": failures}, nil
}

type taskSetRef struct {
	Cluster string `json:"cluster"`
	Service string `json:"service"`
	TaskSet string `json:"taskSet"`
}

func (s *Server) resolveTaskSet(r taskSetRef) (*taskSet, error) {
	if r.TaskSet == "" {
		return nil, invalidParam("taskSet is required.")
	}
	svc, err := s.findActiveService(r.Cluster, r.Service)
	if err != nil {
		return nil, err
	}
	return findTaskSet(svc, r.TaskSet)
}

func (s *Server) ecsUpdateTaskSet(body []byte) (any, error) {
	var in struct {
		taskSetRef
		Scale *scale `json:"scale"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ts, err := s.resolveTaskSet(in.taskSetRef)
	if err != nil {
		return nil, err
	}
	if in.Scale == nil {
		return nil, invalidParam("scale is required.")
	}
	if err := checkScale(*in.Scale); err != nil {
		return nil, err
	}
	if ts.Status == "DRAINING" {
		return nil, invalidParam("The task set %s is being deleted and cannot be updated.", ts.ID)
	}
	ts.Scale = *in.Scale
	ts.UpdatedAt = epoch(s.now)
	s.reconcile(ts)
	return map[string]any{"taskSet": ts}, nil
}

func (s *Server) setPrimary(ts *taskSet) error {
	if ts.Status == "DRAINING" {
		return invalidParam("The task set %s is being deleted and cannot become primary.", ts.ID)
	}
	for _, other := range ts.service.TaskSets {
		if other.Status == "PRIMARY" && other != ts {
			other.Status = "ACTIVE"
			other.UpdatedAt = epoch(s.now)
		}
	}
	if ts.Status != "PRIMARY" {
		ts.Status = "PRIMARY"
		ts.UpdatedAt = epoch(s.now)
	}
	ts.service.TaskDefinition = ts.TaskDefinition
	return nil
}

func (s *Server) ecsUpdateServicePrimaryTaskSet(body []byte) (any, error) {
	var in struct {
		Cluster        string `json:"cluster"`
		Service        string `json:"service"`
		PrimaryTaskSet string `json:"primaryTaskSet"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ts, err := s.resolveTaskSet(taskSetRef{Cluster: in.Cluster, Service: in.Service, TaskSet: in.PrimaryTaskSet})
	if err != nil {
		return nil, err
	}
	if err := s.setPrimary(ts); err != nil {
		return nil, err
	}
	return map[string]any{"taskSet": ts}, nil
}

func (s *Server) ecsDeleteTaskSet(body []byte) (any, error) {
	var in struct {
		taskSetRef
		Force bool `json:"force"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ts, err := s.resolveTaskSet(in.taskSetRef)
	if err != nil {
		return nil, err
	}
	switch {
	case ts.Status == "DRAINING":
		return map[string]any{"taskSet": ts}, nil
	case ts.Status == "PRIMARY":
		return nil, invalidParam("The primary task set %s cannot be deleted; make another task set primary first.", ts.ID)
	case !in.Force && (ts.computedDesired() > 0 || len(liveTasks(s, ts)) > 0):
		return nil, invalidParam("The task set %s has not been scaled down to zero; scale it to 0 and wait for its tasks to stop, or delete with force.", ts.ID)
	}
	ts.Status = "DRAINING"
	ts.UpdatedAt = epoch(s.now)
	s.reconcile(ts)
	return map[string]any{"taskSet": ts}, nil
}
