package awsim

import (
	"encoding/json"
	"sort"
	"strings"

	"ecs-deploy/internal/awsproto"
)

// maxTasksPerService is ECS's default quota of tasks per service.
const maxTasksPerService = 5000

type createServiceInput struct {
	Cluster                       string               `json:"cluster"`
	ServiceName                   string               `json:"serviceName"`
	DesiredCount                  *int                 `json:"desiredCount"`
	DeploymentController          deploymentController `json:"deploymentController"`
	DeploymentConfiguration       json.RawMessage      `json:"deploymentConfiguration"`
	PlacementConstraints          json.RawMessage      `json:"placementConstraints"`
	PlacementStrategy             json.RawMessage      `json:"placementStrategy"`
	HealthCheckGracePeriodSeconds *int                 `json:"healthCheckGracePeriodSeconds"`
	PropagateTags                 string               `json:"propagateTags"`
	EnableECSManagedTags          bool                 `json:"enableECSManagedTags"`
	Tags                          []ecsTag             `json:"tags"`
	taskSetMembers
}

// taskSetMembers are the members of CreateService that, for a service
// with the EXTERNAL deployment controller, belong to its task sets.
type taskSetMembers struct {
	TaskDefinition           *string           `json:"taskDefinition"`
	LaunchType               *string           `json:"launchType"`
	CapacityProviderStrategy []json.RawMessage `json:"capacityProviderStrategy"`
	PlatformVersion          *string           `json:"platformVersion"`
	NetworkConfiguration     json.RawMessage   `json:"networkConfiguration"`
	LoadBalancers            []json.RawMessage `json:"loadBalancers"`
	ServiceRegistries        []json.RawMessage `json:"serviceRegistries"`
}

// check refuses any task set member given to CreateService, as AWS does
// for a service with the EXTERNAL deployment controller.
func (m taskSetMembers) check() error {
	switch {
	case m.TaskDefinition != nil && *m.TaskDefinition == "":
		return invalidParam("Family should not be null or empty.")
	case m.TaskDefinition != nil:
		return invalidParam("TaskDefinition must be blank.")
	case m.LaunchType != nil:
		return invalidParam("LaunchType must be null.")
	case len(m.CapacityProviderStrategy) > 0:
		return invalidParam("CapacityProviderStrategy must be empty or null.")
	case m.PlatformVersion != nil:
		return invalidParam("PlatformVersion must be null.")
	case len(m.NetworkConfiguration) > 0 && string(m.NetworkConfiguration) != "null":
		return invalidParam("NetworkConfiguration must be null.")
	case len(m.LoadBalancers) > 0:
		return invalidParam("LoadBalancers must be empty or null.")
	case len(m.ServiceRegistries) > 0:
		return invalidParam("ServiceRegistries must be empty or null.")
	}
	return nil
}

func (s *Server) createService(in createServiceInput) (*service, error) {
	c, err := s.findCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	if !validName(in.ServiceName) {
		return nil, invalidParam("Service name %q is invalid: up to 255 letters, numbers, hyphens and underscores.", in.ServiceName)
	}
	if in.DeploymentController.Type == "" {
		in.DeploymentController.Type = "ECS"
	}
	if in.DeploymentController.Type != "EXTERNAL" {
		return nil, invalidParam("deploymentController type %q is not emulated: only EXTERNAL services (deployed with task sets) are", in.DeploymentController.Type)
	}
	if err := in.taskSetMembers.check(); err != nil {
		return nil, err
	}
	desired := 0
	if in.DesiredCount != nil {
		desired = *in.DesiredCount
	}
	if desired < 0 || desired > maxTasksPerService {
		return nil, invalidParam("desiredCount must be from 0 to %d.", maxTasksPerService)
	}
	arn := s.arn("ecs", "service/"+c.ClusterName+"/"+in.ServiceName)
	if old, ok := s.services[arn]; ok && old.Status != "INACTIVE" {
		return nil, invalidParam("Creation of service was not idempotent.")
	}
	svc := &service{
		ServiceArn:                    arn,
		ServiceName:                   in.ServiceName,
		ClusterArn:                    c.ClusterArn,
		Status:                        "ACTIVE",
		DesiredCount:                  desired,
		LoadBalancers:                 []taskSetLoadBalancer{},
		DeploymentController:          in.DeploymentController,
		DeploymentConfiguration:       in.DeploymentConfiguration,
		PlacementConstraints:          in.PlacementConstraints,
		PlacementStrategy:             in.PlacementStrategy,
		HealthCheckGracePeriodSeconds: in.HealthCheckGracePeriodSeconds,
		PropagateTags:                 in.PropagateTags,
		EnableECSManagedTags:          in.EnableECSManagedTags,
		SchedulingStrategy:            "REPLICA",
		CreatedAt:                     epoch(s.now),
		TaskSets:                      []*taskSet{},
		Tags:                          in.Tags,
		cluster:                       c,
	}
	s.services[arn] = svc
	return svc, nil
}

// findService resolves a service of cluster c by name or ARN.
func (s *Server) findService(c *cluster, ref string) (*service, error) {
	name := ref
	if strings.HasPrefix(ref, "arn:") {
		name = lastPart(ref)
	}
	svc, ok := s.services[s.arn("ecs", "service/"+c.ClusterName+"/"+name)]
	if !ok || (strings.HasPrefix(ref, "arn:") && svc.ServiceArn != ref) {
		return nil, awsproto.Errorf("ServiceNotFoundException", "Service not found.")
	}
	return svc, nil
}

// findActiveService resolves a service that can still be changed.
func (s *Server) findActiveService(clusterRef, ref string) (*service, error) {
	c, err := s.findCluster(clusterRef)
	if err != nil {
		return nil, err
	}
	svc, err := s.findService(c, ref)
	if err != nil {
		return nil, err
	}
	if svc.Status != "ACTIVE" {
		return nil, awsproto.Errorf("ServiceNotActiveException", "Service was not ACTIVE.")
	}
	return svc, nil
}

func (s *Server) ecsCreateService(body []byte) (any, error) {
	var in createServiceInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	svc, err := s.createService(in)
	if err != nil {
		return nil, err
	}
	return map[string]any{"service": svc}, nil
}

func (s *Server) ecsDescribeServices(body []byte) (any, error) {
	var in struct {
		Cluster  string   `json:"cluster"`
		Services []string `json:"services"`
		Include  []string `json:"include"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	c, err := s.findCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	switch {
	case len(in.Services) == 0:
		return nil, invalidParam("Services cannot be empty.")
	case len(in.Services) > 10:
		return nil, invalidParam("service names can have at most 10 items.")
	}
	out := []*service{}
	failures := []ecsFailure{}
	for _, ref := range in.Services {
		svc, err := s.findService(c, ref)
		if err != nil {
			failures = append(failures, ecsFailure{Arn: s.arn("ecs", "service/"+c.ClusterName+"/"+lastPart(ref)), Reason: "MISSING"})
			continue
		}
		out = append(out, svc)
	}
	return map[string]any{"services": out, "failures": failures}, nil
}

func (s *Server) ecsListServices(body []byte) (any, error) {
	var in struct {
		Cluster    string `json:"cluster"`
		MaxResults *int   `json:"maxResults"`
		NextToken  string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	c, err := s.findCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	arns := []string{}
	for _, svc := range s.services {
		if svc.cluster == c && svc.Status == "ACTIVE" {
			arns = append(arns, svc.ServiceArn)
		}
	}
	sort.Strings(arns)
	items, next, err := page(arns, in.MaxResults, 10, in.NextToken, s.pageLimit)
	if err != nil {
		return nil, err
	}
	return map[string]any{"serviceArns": items, "nextToken": omitEmpty(next)}, nil
}

// ecsUpdateService changes what UpdateService may change on a service with
// the EXTERNAL deployment controller: its desired count, deployment
// configuration, placement, health check grace period and tag options.
// What belongs to task sets is refused.
func (s *Server) ecsUpdateService(body []byte) (any, error) {
	var in struct {
		Cluster                       string            `json:"cluster"`
		Service                       string            `json:"service"`
		DesiredCount                  *int              `json:"desiredCount"`
		DeploymentConfiguration       json.RawMessage   `json:"deploymentConfiguration"`
		PlacementConstraints          json.RawMessage   `json:"placementConstraints"`
		PlacementStrategy             json.RawMessage   `json:"placementStrategy"`
		HealthCheckGracePeriodSeconds *int              `json:"healthCheckGracePeriodSeconds"`
		PropagateTags                 *string           `json:"propagateTags"`
		EnableECSManagedTags          *bool             `json:"enableECSManagedTags"`
		TaskDefinition                *string           `json:"taskDefinition"`
		NetworkConfiguration          json.RawMessage   `json:"networkConfiguration"`
		PlatformVersion               *string           `json:"platformVersion"`
		ForceNewDeployment            bool              `json:"forceNewDeployment"`
		CapacityProviderStrategy      []json.RawMessage `json:"capacityProviderStrategy"`
		LoadBalancers                 []json.RawMessage `json:"loadBalancers"`
		ServiceRegistries             []json.RawMessage `json:"serviceRegistries"`
		ServiceConnectConfiguration   json.RawMessage   `json:"serviceConnectConfiguration"`
		VolumeConfigurations          []json.RawMessage `json:"volumeConfigurations"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	svc, err := s.findActiveService(in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	const external = " on services with a EXTERNAL deployment controller. Create a new task set instead."
	switch {
	case in.TaskDefinition != nil:
		return nil, invalidParam("Unable to update task definition" + external)
	case len(in.NetworkConfiguration) > 0 || in.PlatformVersion != nil || in.ForceNewDeployment:
		return nil, invalidParam("Unable to update network parameters" + external)
	case len(in.CapacityProviderStrategy) > 0:
		return nil, invalidParam("Unable to update capacity provider strategy" + external)
	case len(in.LoadBalancers) > 0 || len(in.ServiceRegistries) > 0 || len(in.ServiceConnectConfiguration) > 0:
		return nil, invalidParam("Unable to update load balancers or service registries" + external)
	case len(in.VolumeConfigurations) > 0:
		return nil, invalidParam("Unable to update volume configurations" + external)
	}
	if in.DesiredCount != nil && (*in.DesiredCount < 0 || *in.DesiredCount > maxTasksPerService) {
		return nil, invalidParam("desiredCount must be from 0 to %d.", maxTasksPerService)
	}
	if len(in.DeploymentConfiguration) > 0 {
		svc.DeploymentConfiguration = in.DeploymentConfiguration
	}
	if len(in.PlacementConstraints) > 0 {
		svc.PlacementConstraints = in.PlacementConstraints
	}
	if len(in.PlacementStrategy) > 0 {
		svc.PlacementStrategy = in.PlacementStrategy
	}
	if in.HealthCheckGracePeriodSeconds != nil {
		svc.HealthCheckGracePeriodSeconds = in.HealthCheckGracePeriodSeconds
	}
	if in.PropagateTags != nil {
		svc.PropagateTags = *in.PropagateTags
	}
	if in.EnableECSManagedTags != nil {
		svc.EnableECSManagedTags = *in.EnableECSManagedTags
	}
	if in.HealthCheckGracePeriodSeconds != nil {
		svc.HealthCheckGracePeriodSeconds = in.HealthCheckGracePeriodSeconds
	}
	if in.DesiredCount != nil {
		svc.DesiredCount = *in.DesiredCount
		for _, ts := range svc.TaskSets {
			s.reconcile(ts)
		}
	}
	return map[string]any{"service": svc}, nil
}
