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
	Cluster              string               `json:"cluster"`
	ServiceName          string               `json:"serviceName"`
	DesiredCount         *int                 `json:"desiredCount"`
	LaunchType           string               `json:"launchType"`
	TaskDefinition       string               `json:"taskDefinition"`
	DeploymentController deploymentController `json:"deploymentController"`
	LoadBalancers        []json.RawMessage    `json:"loadBalancers"`
	NetworkConfiguration json.RawMessage      `json:"networkConfiguration"`
	Tags                 []ecsTag             `json:"tags"`

	HealthCheckGracePeriodSeconds *int `json:"healthCheckGracePeriodSeconds"`
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
	if len(in.LoadBalancers) > 0 {
		return nil, invalidParam("Load balancers of a service with the EXTERNAL deployment controller are specified on its task sets.")
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
		ServiceArn:           arn,
		ServiceName:          in.ServiceName,
		ClusterArn:           c.ClusterArn,
		Status:               "ACTIVE",
		DesiredCount:         desired,
		LaunchType:           in.LaunchType,
		DeploymentController: in.DeploymentController,
		SchedulingStrategy:   "REPLICA",
		NetworkConfiguration: in.NetworkConfiguration,
		CreatedAt:            epoch(s.now),
		TaskSets:             []*taskSet{},
		Tags:                 in.Tags,
		cluster:              c,

		HealthCheckGracePeriodSeconds: in.HealthCheckGracePeriodSeconds,
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
	if len(in.Services) == 0 || len(in.Services) > 10 {
		return nil, invalidParam("services must name 1 to 10 services.")
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
		MaxResults int    `json:"maxResults"`
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
	items, next, err := page(arns, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return map[string]any{"serviceArns": items, "nextToken": omitEmpty(next)}, nil
}

func (s *Server) ecsUpdateService(body []byte) (any, error) {
	var in struct {
		Cluster        string `json:"cluster"`
		Service        string `json:"service"`
		DesiredCount   *int   `json:"desiredCount"`
		TaskDefinition string `json:"taskDefinition"`

		HealthCheckGracePeriodSeconds *int `json:"healthCheckGracePeriodSeconds"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	svc, err := s.findActiveService(in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	if in.TaskDefinition != "" {
		return nil, invalidParam("Unable to update task definition on services with a deployment controller type of EXTERNAL.")
	}
	if in.HealthCheckGracePeriodSeconds != nil {
		svc.HealthCheckGracePeriodSeconds = in.HealthCheckGracePeriodSeconds
	}
	if in.DesiredCount != nil {
		if *in.DesiredCount < 0 || *in.DesiredCount > maxTasksPerService {
			return nil, invalidParam("desiredCount must be from 0 to %d.", maxTasksPerService)
		}
		svc.DesiredCount = *in.DesiredCount
		for _, ts := range svc.TaskSets {
			s.reconcile(ts)
		}
	}
	return map[string]any{"service": svc}, nil
}
