package awsim_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"ecs-deploy/internal/awsim"
)

// bed is an emulator on a loopback port with SDK clients pointed at it.
type bed struct {
	sim *awsim.Server
	url string
	ecs *ecs.Client
	elb *elb.Client
	cw  *cloudwatch.Client
	ctx context.Context
}

// newBed starts an emulator whose clock all but stands still (a zero scale
// means the default, real time) unless the test advances it, so every test
// is deterministic.
func newBed(t *testing.T, cfg awsim.Config) *bed {
	t.Helper()
	if cfg.TimeScale == 0 {
		cfg.TimeScale = 1e-9 // effectively frozen; Advance moves it
	}
	sim, err := awsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	awsCfg := sdkConfig(srv.URL, 3)
	return &bed{
		sim: sim,
		url: srv.URL,
		ecs: ecs.NewFromConfig(awsCfg),
		elb: elb.NewFromConfig(awsCfg),
		cw:  cloudwatch.NewFromConfig(awsCfg),
		ctx: t.Context(),
	}
}

func sdkConfig(endpoint string, attempts int) aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: attempts,
	}
}

// waitFor advances the clock in steps until cond holds, failing after max.
func (b *bed) waitFor(t *testing.T, max time.Duration, what string, cond func() bool) {
	t.Helper()
	for waited := time.Duration(0); ; waited += time.Second {
		if cond() {
			return
		}
		if waited > max {
			t.Fatalf("%s: not reached after %v of simulated time", what, max)
		}
		b.sim.Advance(time.Second)
	}
}

func (b *bed) taskSet(t *testing.T, sd awsim.Seeded, id string) ecstypes.TaskSet {
	t.Helper()
	out, err := b.ecs.DescribeTaskSets(b.ctx, &ecs.DescribeTaskSetsInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSets: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.TaskSets) != 1 {
		t.Fatalf("DescribeTaskSets(%s): %d task sets, failures %v", id, len(out.TaskSets), out.Failures)
	}
	return out.TaskSets[0]
}

// taskSets reads the service's task sets the way a client must: their IDs
// from DescribeServices, then DescribeTaskSets by ID.
func (b *bed) taskSets(t *testing.T, sd awsim.Seeded) []ecstypes.TaskSet {
	t.Helper()
	svc, err := b.ecs.DescribeServices(b.ctx, &ecs.DescribeServicesInput{Cluster: &sd.Cluster, Services: []string{sd.Service}})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Services) != 1 {
		t.Fatalf("DescribeServices(%s): failures %v", sd.Service, svc.Failures)
	}
	var ids []string
	for _, ts := range svc.Services[0].TaskSets {
		ids = append(ids, *ts.Id)
	}
	if len(ids) == 0 {
		return nil
	}
	out, err := b.ecs.DescribeTaskSets(b.ctx, &ecs.DescribeTaskSetsInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSets: ids})
	if err != nil {
		t.Fatal(err)
	}
	return out.TaskSets
}

// wantAPIError fails unless err is an AWS error with the code and message.
func wantAPIError(t *testing.T, err error, code, message string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want %s: %s", err, code, message)
	}
	if ae.ErrorCode() != code || ae.ErrorMessage() != message {
		t.Fatalf("err = %s: %q, want %s: %q", ae.ErrorCode(), ae.ErrorMessage(), code, message)
	}
}

func (b *bed) health(t *testing.T, tg string) []elbtypes.TargetHealthDescription {
	t.Helper()
	out, err := b.elb.DescribeTargetHealth(b.ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: &tg})
	if err != nil {
		t.Fatal(err)
	}
	return out.TargetHealthDescriptions
}

func allHealthy(d []elbtypes.TargetHealthDescription) bool {
	if len(d) == 0 {
		return false
	}
	for _, h := range d {
		if h.TargetHealth.State != elbtypes.TargetHealthStateEnumHealthy {
			return false
		}
	}
	return true
}

// priorities returns rule ARN to priority for the listener's non-default rules.
func (b *bed) priorities(t *testing.T, listener string) map[string]string {
	t.Helper()
	out, err := b.elb.DescribeRules(b.ctx, &elb.DescribeRulesInput{ListenerArn: &listener})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range out.Rules {
		if !aws.ToBool(r.IsDefault) {
			m[*r.RuleArn] = *r.Priority
		}
	}
	return m
}

func (b *bed) seed(t *testing.T, sc awsim.Scenario) awsim.Seeded {
	t.Helper()
	sd, err := b.sim.Seed(sc)
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

// registerTaskDef registers a new revision of the seeded family.
func (b *bed) registerTaskDef(t *testing.T, sd awsim.Seeded, image string) string {
	t.Helper()
	out, err := b.ecs.RegisterTaskDefinition(b.ctx, &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(sd.Name),
		NetworkMode:             ecstypes.NetworkModeAwsvpc,
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		Cpu:                     aws.String("256"),
		Memory:                  aws.String("512"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name:         aws.String(sd.ContainerName),
			Image:        aws.String(image),
			Essential:    aws.Bool(true),
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(int32(sd.ContainerPort))}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.TaskDefinition.TaskDefinitionArn
}

// taskSetInput is a CreateTaskSet request for the seeded service: a
// Fargate task set of taskDef behind the target group tg.
func taskSetInput(sd awsim.Seeded, taskDef, tg, externalID string) *ecs.CreateTaskSetInput {
	return &ecs.CreateTaskSetInput{
		Cluster:        &sd.Cluster,
		Service:        &sd.Service,
		TaskDefinition: &taskDef,
		ExternalId:     &externalID,
		LaunchType:     ecstypes.LaunchTypeFargate,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: sd.Subnets, SecurityGroups: sd.SecurityGroups}},
		LoadBalancers: []ecstypes.LoadBalancer{{
			TargetGroupArn: aws.String(tg),
			ContainerName:  aws.String(sd.ContainerName),
			ContainerPort:  aws.Int32(int32(sd.ContainerPort)),
		}},
		Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: 100},
		Tags:  []ecstypes.Tag{{Key: aws.String("deploy-id"), Value: aws.String(externalID)}},
	}
}

func (b *bed) createTaskSet(t *testing.T, sd awsim.Seeded, taskDef, colour, externalID string) ecstypes.TaskSet {
	t.Helper()
	out, err := b.ecs.CreateTaskSet(b.ctx, taskSetInput(sd, taskDef, sd.TargetGroupArns[colour], externalID))
	if err != nil {
		t.Fatal(err)
	}
	return *out.TaskSet
}
