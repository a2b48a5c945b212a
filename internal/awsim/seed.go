package awsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Scenario describes an app to seed: an EXTERNAL-controller service behind
// an ALB listener with a blue and a green target group, each behind one
// forward rule, and blue serving through a running PRIMARY task set whose
// targets are healthy. The cluster has the FARGATE and FARGATE_SPOT
// capacity providers and no default strategy; the service is created as
// AWS takes an EXTERNAL one, with its launch type and network
// configuration on the task set.
type Scenario struct {
	// Name names the app; resources are named after it. Default "demo".
	Name string `json:"name,omitempty"`
	// Cluster is the cluster's name. Default Name.
	Cluster string `json:"cluster,omitempty"`
	// DesiredCount is the service's desired count. Default 2.
	DesiredCount int `json:"desired_count,omitempty"`
	// ContainerName is the container behind the target groups. Default "app".
	ContainerName string `json:"container_name,omitempty"`
	// ContainerPort is its port. Default 8080.
	ContainerPort int `json:"container_port,omitempty"`
	// Image is the serving task definition's image. Default Name + ":seed".
	Image string `json:"image,omitempty"`
	// Alarms are CloudWatch alarms to create in state OK. Default
	// [Name + "-target-5xx"].
	Alarms []string `json:"alarms,omitempty"`

	// The target groups get fast but legal health check settings, so a new
	// target turns healthy 15 simulated seconds after it registers
	// (Timings.Registration, then one passing check: AWS needs a single
	// check for a new target, whatever the healthy threshold), a failing
	// one unhealthy after 10 seconds, and a deregistered one drains for 10.

	// HealthCheckIntervalSeconds is the target groups' health check
	// interval, 5 to 300. Default 5.
	HealthCheckIntervalSeconds int `json:"health_check_interval_seconds,omitempty"`
	// HealthyThresholdCount is how many passing checks an unhealthy target
	// needs to turn healthy again, 2 to 10. Default 3.
	HealthyThresholdCount int `json:"healthy_threshold_count,omitempty"`
	// UnhealthyThresholdCount is how many failing checks turn a target
	// unhealthy, 2 to 10. Default 2.
	UnhealthyThresholdCount int `json:"unhealthy_threshold_count,omitempty"`
	// DeregistrationDelaySeconds is the target groups'
	// deregistration_delay.timeout_seconds, 1 to 3600 (zero takes the
	// default). Default 10.
	DeregistrationDelaySeconds int `json:"deregistration_delay_seconds,omitempty"`
}

// Seeded names what Seed created.
type Seeded struct {
	Name              string            `json:"name"`
	Region            string            `json:"region"`
	AccountID         string            `json:"account_id"`
	Cluster           string            `json:"cluster"`
	ClusterArn        string            `json:"cluster_arn"`
	Service           string            `json:"service"`
	ServiceArn        string            `json:"service_arn"`
	TaskDefinitionArn string            `json:"task_definition_arn"`
	PrimaryTaskSetArn string            `json:"primary_task_set_arn"`
	LoadBalancerArn   string            `json:"load_balancer_arn"`
	ListenerArn       string            `json:"listener_arn"`
	TargetGroupArns   map[string]string `json:"target_group_arns"`
	RuleArns          map[string]string `json:"rule_arns"`
	Subnets           []string          `json:"subnets"`
	SecurityGroups    []string          `json:"security_groups"`
	ContainerName     string            `json:"container_name"`
	ContainerPort     int               `json:"container_port"`
	Alarms            []string          `json:"alarms"`
}

func (sc *Scenario) setDefaults() {
	if sc.Name == "" {
		sc.Name = "demo"
	}
	if sc.Cluster == "" {
		sc.Cluster = sc.Name
	}
	if sc.DesiredCount == 0 {
		sc.DesiredCount = 2
	}
	if sc.ContainerName == "" {
		sc.ContainerName = "app"
	}
	if sc.ContainerPort == 0 {
		sc.ContainerPort = 8080
	}
	if sc.Image == "" {
		sc.Image = sc.Name + ":seed"
	}
	if sc.Alarms == nil {
		sc.Alarms = []string{sc.Name + "-target-5xx"}
	}
	for _, d := range []struct {
		field *int
		def   int
	}{
		{&sc.HealthCheckIntervalSeconds, 5},
		{&sc.HealthyThresholdCount, 3},
		{&sc.UnhealthyThresholdCount, 2},
		{&sc.DeregistrationDelaySeconds, 10},
	} {
		if *d.field == 0 {
			*d.field = d.def
		}
	}
}

// Validate reports every field out of range.
func (sc Scenario) Validate() error {
	var errs []error
	if len(sc.Name) > 24 || !validELBName(sc.Name) {
		errs = append(errs, fmt.Errorf("awsim.Scenario.Name %q must be 1 to 24 letters, numbers and hyphens", sc.Name))
	}
	if !validName(sc.Cluster) {
		errs = append(errs, fmt.Errorf("awsim.Scenario.Cluster %q is not a valid cluster name", sc.Cluster))
	}
	if sc.DesiredCount < 1 {
		errs = append(errs, fmt.Errorf("awsim.Scenario.DesiredCount is %d, want at least 1", sc.DesiredCount))
	}
	if sc.ContainerPort < 1 || sc.ContainerPort > 65535 {
		errs = append(errs, fmt.Errorf("awsim.Scenario.ContainerPort %d is out of range", sc.ContainerPort))
	}
	for _, r := range []struct {
		name   string
		v      int
		lo, hi int
	}{
		{"HealthCheckIntervalSeconds", sc.HealthCheckIntervalSeconds, 5, 300},
		{"HealthyThresholdCount", sc.HealthyThresholdCount, 2, 10},
		{"UnhealthyThresholdCount", sc.UnhealthyThresholdCount, 2, 10},
		{"DeregistrationDelaySeconds", sc.DeregistrationDelaySeconds, 0, 3600},
	} {
		if r.v < r.lo || r.v > r.hi {
			errs = append(errs, fmt.Errorf("awsim.Scenario.%s is %d, want %d to %d", r.name, r.v, r.lo, r.hi))
		}
	}
	return errors.Join(errs...)
}

// Seed creates the scenario's resources, already in steady state.
func (s *Server) Seed(sc Scenario) (Seeded, error) {
	sc.setDefaults()
	if err := sc.Validate(); err != nil {
		return Seeded{}, err
	}
	s.lock()
	defer s.unlock()
	out := Seeded{Name: sc.Name, Region: s.cfg.Region, AccountID: s.cfg.AccountID,
		Cluster: sc.Cluster, Service: sc.Name, ContainerName: sc.ContainerName, ContainerPort: sc.ContainerPort,
		TargetGroupArns: map[string]string{}, RuleArns: map[string]string{}, Alarms: sc.Alarms}
	c, err := s.createCluster(createClusterInput{ClusterName: sc.Cluster, CapacityProviders: slices.Clone(fargateProviders)})
	if err != nil {
		return Seeded{}, fmt.Errorf("seed %s: %w", sc.Name, err)
	}
	out.ClusterArn = c.ClusterArn
	vpc := "vpc-" + s.newID(8)
	out.Subnets = []string{"subnet-" + s.newID(8), "subnet-" + s.newID(8)}
	out.SecurityGroups = []string{"sg-" + s.newID(8)}
	container, _ := json.Marshal(map[string]any{
		"name": sc.ContainerName, "image": sc.Image, "essential": true,
		"portMappings": []map[string]any{{"containerPort": sc.ContainerPort, "protocol": "tcp"}},
	})
	td, err := s.registerTaskDefinition(registerTaskDefinitionInput{
		Family: sc.Name, ContainerDefinitions: []json.RawMessage{container},
		Cpu: ptr("256"), Memory: ptr("512"), NetworkMode: "awsvpc", RequiresCompatibilities: []string{"FARGATE"},
	})
	if err != nil {
		return Seeded{}, err
	}
	out.TaskDefinitionArn = td.TaskDefinitionArn
	netCfg, _ := json.Marshal(map[string]any{"awsvpcConfiguration": map[string]any{
		"subnets": out.Subnets, "securityGroups": out.SecurityGroups, "assignPublicIp": "DISABLED"}})
	desired := sc.DesiredCount
	svc, err := s.createService(createServiceInput{Cluster: sc.Cluster, ServiceName: sc.Name, DesiredCount: &desired,
		DeploymentController: deploymentController{Type: "EXTERNAL"}})
	if err != nil {
		return Seeded{}, fmt.Errorf("seed %s: %w", sc.Name, err)
	}
	out.ServiceArn = svc.ServiceArn
	lb, err := s.createLoadBalancer(sc.Name+"-alb", out.Subnets, out.SecurityGroups, "internet-facing", nil)
	if err != nil {
		return Seeded{}, err
	}
	lb.VpcID = vpc
	out.LoadBalancerArn = lb.LoadBalancerArn
	l, err := s.createListener(lb.LoadBalancerArn, 80, "HTTP", qlist{qmap{"Type": "fixed-response",
		"FixedResponseConfig": qmap{"StatusCode": "404", "ContentType": "text/plain", "MessageBody": "no rule matched"}}})
	if err != nil {
		return Seeded{}, fmt.Errorf("seed %s: %w", sc.Name, err)
	}
	out.ListenerArn = l.ListenerArn
	for i, colour := range []string{"blue", "green"} {
		tg, err := s.createTargetGroup(createTargetGroupInput{Name: sc.Name + "-" + colour, Protocol: "HTTP",
			Port: sc.ContainerPort, VpcID: vpc, TargetType: "ip", HealthCheck: healthCheckSettings{Path: "/health",
				Interval: &sc.HealthCheckIntervalSeconds, HealthyCount: &sc.HealthyThresholdCount, UnhealthyCount: &sc.UnhealthyThresholdCount}})
		if err != nil {
			return Seeded{}, err
		}
		tg.attrs["deregistration_delay.timeout_seconds"] = strconv.Itoa(sc.DeregistrationDelaySeconds)
		out.TargetGroupArns[colour] = tg.TargetGroupArn
		r, err := s.createRule(l.ListenerArn, 10*(i+1),
			qlist{qmap{"Field": "path-pattern", "Values": qlist{"/*"}, "PathPatternConfig": qmap{"Values": qlist{"/*"}}}},
			qlist{qmap{"Type": "forward", "TargetGroupArn": tg.TargetGroupArn}})
		if err != nil {
			return Seeded{}, err
		}
		out.RuleArns[colour] = r.RuleArn
	}
	zero := scale{Value: 0, Unit: "PERCENT"}
	ts, err := s.createTaskSet(createTaskSetInput{Cluster: sc.Cluster, Service: sc.Name, ExternalID: "seed",
		TaskDefinition: td.TaskDefinitionArn, LaunchType: "FARGATE", NetworkConfiguration: netCfg, Scale: &zero,
		LoadBalancers: []taskSetLoadBalancer{{TargetGroupArn: out.TargetGroupArns["blue"], ContainerName: sc.ContainerName, ContainerPort: sc.ContainerPort}}})
	if err != nil {
		return Seeded{}, err
	}
	ts.Scale.Value = 100
	for range ts.computedDesired() {
		s.launchTask(ts, true)
	}
	if err := s.setPrimary(ts); err != nil {
		return Seeded{}, err
	}
	out.PrimaryTaskSetArn = ts.TaskSetArn
	for _, name := range sc.Alarms {
		a := s.newAlarm(name)
		a.state, a.reason = "OK", "Seeded in state OK"
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }
