package awsim

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"ecs-deploy/internal/awsproto"
)

// maxTaskSetsPerService is how many task sets a service may have,
// DRAINING ones included, until they are gone.
const maxTaskSetsPerService = 5

type createTaskSetInput struct {
	Cluster                  string                 `json:"cluster"`
	Service                  string                 `json:"service"`
	ExternalID               string                 `json:"externalId"`
	TaskDefinition           string                 `json:"taskDefinition"`
	NetworkConfiguration     json.RawMessage        `json:"networkConfiguration"`
	LoadBalancers            []taskSetLoadBalancer  `json:"loadBalancers"`
	LaunchType               string                 `json:"launchType"`
	CapacityProviderStrategy []capacityProviderItem `json:"capacityProviderStrategy"`
	PlatformVersion          string                 `json:"platformVersion"`
	Scale                    *scale                 `json:"scale"`
	ClientToken              string                 `json:"clientToken"`
	Tags                     []ecsTag               `json:"tags"`
}

func (s *Server) createTaskSet(in createTaskSetInput) (*taskSet, error) {
	svc, err := s.findActiveService(in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	if svc.DeploymentController.Type != "EXTERNAL" {
		return nil, invalidParam("Amazon ECS only supports task set management on services configured to use external deployment controllers.")
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
	if len(svc.TaskSets) >= maxTaskSetsPerService {
		return nil, invalidParam("%d deployments exist on the service. Unable to create new TaskSet since this exceeds the maximum limit.", len(svc.TaskSets))
	}
	sc := scale{Value: 100, Unit: "PERCENT"}
	if in.Scale != nil {
		sc = *in.Scale
	}
	if err := checkScale(sc); err != nil {
		return nil, err
	}
	launchType, strategy, err := capacityOf(svc.cluster, in, td)
	if err != nil {
		return nil, err
	}
	switch {
	case td.NetworkMode == "awsvpc" && len(in.NetworkConfiguration) == 0:
		return nil, invalidParam("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	case td.NetworkMode != "awsvpc" && len(in.NetworkConfiguration) > 0:
		return nil, invalidParam("Network Configuration is not valid for the given networkMode of this task definition.")
	}
	if len(in.LoadBalancers) > 1 {
		return nil, invalidParam("CreateTaskSet cannot have more than 1 load balancer.")
	}
	for i, lb := range in.LoadBalancers {
		if err := s.checkTaskSetLoadBalancer(td, lb); err != nil {
			return nil, fmt.Errorf("loadBalancers[%d]: %w", i, err)
		}
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
		CapacityProviderStrategy: strategy,
		PlatformVersion:          in.PlatformVersion,
		NetworkConfiguration:     in.NetworkConfiguration,
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
	if in.PlatformVersion == "" && ts.placeable() {
		ts.PlatformVersion = "LATEST"
	}
	svc.TaskSets = append(svc.TaskSets, ts)
	s.taskSets[ts.TaskSetArn] = ts
	s.reconcile(ts)
	return ts, nil
}

// capacityOf resolves where the tasks of a new task set run: its launch
// type, or else its capacity provider strategy, or else the cluster's
// default strategy, or else the EC2 launch type. It refuses a strategy
// naming a capacity provider the cluster does not have, a platform
// version on EC2, and a task definition not validated for Fargate on
// Fargate capacity.
func capacityOf(c *cluster, in createTaskSetInput, td *taskDefinition) (string, []capacityProviderItem, error) {
	launchType, strategy := in.LaunchType, in.CapacityProviderStrategy
	switch {
	case launchType != "" && len(strategy) > 0:
		return "", nil, invalidParam("Specifying both a launch type and capacity provider strategy is not supported.")
	case launchType != "":
		if !slices.Contains([]string{"EC2", "FARGATE", "EXTERNAL"}, launchType) {
			return "", nil, invalidParam("launchType %q is not one of EC2, FARGATE, EXTERNAL.", launchType)
		}
	case len(strategy) > 0:
		if err := checkStrategy(strategy, c.CapacityProviders); err != nil {
			return "", nil, err
		}
	case len(c.DefaultCapacityProviderStrategy) > 0:
		strategy = slices.Clone(c.DefaultCapacityProviderStrategy)
	default:
		launchType = "EC2"
	}
	if launchType == "EC2" && in.PlatformVersion != "" {
		return "", nil, invalidParam("The platform version must be null when specifying an EC2 launch type.")
	}
	// Every capacity provider a cluster can have is a Fargate one.
	if (launchType == "FARGATE" || len(strategy) > 0) && !slices.Contains(td.Compatibilities, "FARGATE") {
		return "", nil, invalidParam("Task definition does not support launch_type FARGATE.")
	}
	return launchType, strategy, nil
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
	if !s.attached(tg) {
		return invalidParam("The target group with targetGroupArn %s does not have an associated load balancer.", tg.TargetGroupArn)
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

// attached says whether a listener of a load balancer forwards to tg, by
// its default action or a rule, whatever its weight.
func (s *Server) attached(tg *targetGroup) bool {
	for _, r := range s.rules {
		for _, a := range r.Actions {
			m, ok := a.(qmap)
			if !ok || m.str("Type") != "forward" {
				continue
			}
			if m.str("TargetGroupArn") == tg.TargetGroupArn {
				return true
			}
			if fc := m.sub("ForwardConfig"); fc != nil {
				for _, t := range fc.structs("TargetGroups") {
					if t.str("TargetGroupArn") == tg.TargetGroupArn {
						return true
					}
				}
			}
		}
	}
	return false
}

var (
	taskSetIDPattern  = regexp.MustCompile(`^ecs-svc/[0-9]+$`)
	taskSetARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:task-set/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/ecs-svc/[0-9]+$`)
)

// checkTaskSetRef refuses what is neither a task set ID nor a task set ARN.
func checkTaskSetRef(ref string) error {
	if !taskSetIDPattern.MatchString(ref) && !taskSetARNPattern.MatchString(ref) {
		return invalidParam("Task Set Identifier is invalid")
	}
	return nil
}

// taskSetArn is the ARN of the task set of svc that ref, an ID or ARN,
// names.
func (s *Server) taskSetArn(svc *service, ref string) string {
	if strings.HasPrefix(ref, "arn:") {
		return ref
	}
	return s.arn("ecs", "task-set/"+svc.cluster.ClusterName+"/"+svc.ServiceName+"/"+ref)
}

// findTaskSet resolves a task set of svc by ID or ARN, draining ones
// included.
func (s *Server) findTaskSet(svc *service, ref string) (*taskSet, error) {
	if err := checkTaskSetRef(ref); err != nil {
		return nil, err
	}
	arn := s.taskSetArn(svc, ref)
	for _, ts := range svc.TaskSets {
		if ts.TaskSetArn == arn {
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

// ecsDescribeTaskSets describes the task sets named: there is no listing
// them all (DescribeServices lists a service's task sets).
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
	if len(in.TaskSets) == 0 {
		return nil, invalidParam("TaskSets cannot be empty.")
	}
	for _, ref := range in.TaskSets {
		if err := checkTaskSetRef(ref); err != nil {
			return nil, err
		}
	}
	out := []*taskSet{}
	failures := []ecsFailure{}
	for _, ref := range in.TaskSets {
		ts, err := s.findTaskSet(svc, ref)
		if err != nil {
			failures = append(failures, ecsFailure{Arn: s.taskSetArn(svc, ref), Reason: "MISSING"})
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
	return s.findTaskSet(svc, r.TaskSet)
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
	svc := ts.service
	svc.TaskDefinition = ts.TaskDefinition
	svc.LaunchType = ts.LaunchType
	svc.CapacityProviderStrategy = ts.CapacityProviderStrategy
	svc.PlatformVersion = ts.PlatformVersion
	svc.NetworkConfiguration = ts.NetworkConfiguration
	svc.LoadBalancers = ts.LoadBalancers
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
