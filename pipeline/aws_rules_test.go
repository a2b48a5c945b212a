package pipeline_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/pipeline"
)

// TestTargetGroupNotOnListener: a config whose green target group no rule
// of the listener forwards to is refused by plan and by step 3, naming the
// target group, and nothing changes.
func TestTargetGroupNotOnListener(t *testing.T) {
	const stray = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/stray/0123456789abcdef"
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(defaultConfig(sd)), &m)
		env := m["Apps"].(map[string]any)[sd.Name].(map[string]any)["Environments"].(map[string]any)["prod"].(map[string]any)
		env["TargetGroupARNs"] = map[string]string{"blue": sd.TargetGroupArns["blue"], "green": stray}
		out, _ := json.Marshal(m)
		return string(out)
	}})
	ctx := testContext(t)
	p := b.pipeline(pipeOptions{})
	want := "the green target group " + stray + " (TargetGroupARNs.green) is not attached to listener"
	if _, err := p.Plan(ctx, b.request("d-1", 2, pipeline.ModePlan)); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("plan: err = %v, want %q", err, want)
	}
	b.sim.ResetCalls()
	_, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	var se *pipeline.StepError
	if !errors.As(err, &se) || se.Step != pipeline.StepReadColour || !strings.Contains(err.Error(), want) || !pipeline.Permanent(err) {
		t.Fatalf("run: err = %v, want a permanent step 3 failure saying %q", err, want)
	}
	for _, c := range b.sim.Calls() {
		if c.Mutating() {
			t.Fatalf("the refused deploy called %s", c.Operation)
		}
	}
	b.servedBySeed()
}

// TestTaskSetLimit: ECS allows five task sets per service. When step 4 may
// remove none of them (here, four more task sets behind the serving target
// group besides the PRIMARY), the deploy stops before creating a task set
// and names the task sets holding the slots.
func TestTaskSetLimit(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{})
	ctx := testContext(t)
	sd := b.seeded
	var extra []string
	for i := range 4 {
		out, err := b.ecs.CreateTaskSet(ctx, &ecs.CreateTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service,
			TaskDefinition: &sd.TaskDefinitionArn, LaunchType: ecstypes.LaunchTypeFargate, ExternalId: aws.String(fmt.Sprintf("manual-%d", i)),
			NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: sd.Subnets}},
			LoadBalancers: []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(sd.TargetGroupArns["blue"]),
				ContainerName: aws.String(sd.ContainerName), ContainerPort: aws.Int32(int32(sd.ContainerPort))}},
			Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: 0}})
		if err != nil {
			t.Fatal(err)
		}
		extra = append(extra, aws.ToString(out.TaskSet.TaskSetArn))
	}
	b.sim.ResetCalls()
	_, err := b.pipeline(pipeOptions{}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	var se *pipeline.StepError
	if !errors.As(err, &se) || se.Step != pipeline.StepCleanUp || !pipeline.Permanent(err) {
		t.Fatalf("err = %v, want a permanent step 4 failure", err)
	}
	for _, arn := range append(extra, sd.PrimaryTaskSetArn) {
		if !strings.Contains(err.Error(), arn) {
			t.Errorf("the error does not name task set %s: %v", arn, err)
		}
	}
	for _, c := range b.sim.Calls() {
		if c.Operation == "CreateTaskSet" || c.Operation == "RegisterTaskDefinition" {
			t.Fatalf("the deploy called %s with no room for a task set", c.Operation)
		}
	}
	if n := len(b.taskSets()); n != 5 {
		t.Fatalf("%d task sets, want the 5 there were", n)
	}
	b.servedBySeed()
	b.checkLockReleased("d-1", pipeline.StateFailed)
}
