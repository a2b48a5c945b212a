package pipeline_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/faults"
	"ecs-deploy/pipeline"
)

// TestMissingAlarmRefused: an alarm of AlarmNames that does not exist
// fails plan and step 3 with its name; a bake would watch nothing.
func TestMissingAlarmRefused(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		return withEnv(defaultConfig(sd), sd.Name, map[string]any{"AlarmNames": []string{sd.Alarms[0], "shop-typo-5xx"}})
	}})
	ctx := testContext(t)
	p := b.pipeline(pipeOptions{})
	const want = "AlarmNames lists alarms CloudWatch does not have (metric or composite): shop-typo-5xx"
	if _, err := p.Plan(ctx, b.request("d-1", 2, pipeline.ModePlan)); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("plan: %v", err)
	}
	b.sim.ResetCalls()
	_, err := p.Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	var se *pipeline.StepError
	if !errors.As(err, &se) || se.Step != pipeline.StepReadColour || !strings.Contains(err.Error(), want) || !pipeline.Permanent(err) {
		t.Fatalf("deploy: %v", err)
	}
	if got := b.mutatingCalls(); len(got) != 0 {
		t.Fatalf("the refused deploy changed %v", got)
	}
}

// TestCompositeAlarmWatched: a composite alarm in AlarmNames is watched
// like a metric alarm.
func TestCompositeAlarmWatched(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		return withEnv(defaultConfig(sd), sd.Name, map[string]any{"AlarmNames": []string{"shop-health"}})
	}})
	ctx := testContext(t)
	if _, err := b.cw.PutCompositeAlarm(ctx, &cloudwatch.PutCompositeAlarmInput{AlarmName: aws.String("shop-health"),
		AlarmRule: aws.String(fmt.Sprintf("ALARM(%q)", b.seeded.Alarms[0]))}); err != nil {
		t.Fatal(err)
	}
	_, err := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.BeforeStep && step == pipeline.StepBake {
			return b.sim.SetAlarm(b.seeded.Alarms[0], "ALARM", "5xx")
		}
		return nil
	}}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if !errors.Is(err, pipeline.ErrRolledBack) || !strings.Contains(err.Error(), "alarm shop-health is in ALARM") {
		t.Fatalf("err = %v, want a rollback for the composite alarm", err)
	}
	b.servedBySeed()
}

// TestManyAlarmsPaged: more alarms than one DescribeAlarms call may name
// are read in several calls, every page of each.
func TestManyAlarmsPaged(t *testing.T) {
	var names []string
	for i := range 150 {
		names = append(names, fmt.Sprintf("shop-alarm-%03d", i))
	}
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		return withEnv(defaultConfig(sd), sd.Name, map[string]any{"AlarmNames": names})
	}})
	ctx := testContext(t)
	for _, n := range names {
		if _, err := b.cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String(n), MetricName: aws.String("HTTPCode_Target_5XX_Count"),
			Namespace: aws.String("AWS/ApplicationELB"), Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1),
			Threshold: aws.Float64(1), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanOrEqualToThreshold}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.BeforeStep && step == pipeline.StepBake {
			return b.sim.SetAlarm(names[140], "ALARM", "errors")
		}
		return nil
	}}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if !errors.Is(err, pipeline.ErrRolledBack) || !strings.Contains(err.Error(), names[140]) {
		t.Fatalf("err = %v, want a rollback for %s", err, names[140])
	}
	b.servedBySeed()
}

// TestBakeSurvivesTransientErrors: a check that fails during the bake
// (throttling, past the SDK's retries) is tried again; the deploy does not
// fail with the new build serving.
func TestBakeSurvivesTransientErrors(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		return withEnv(defaultConfig(sd), sd.Name, map[string]any{"AlarmNames": sd.Alarms, "BakeTime": "30s"})
	}})
	ctx := testContext(t)
	_, err := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.BeforeStep && step == pipeline.StepBake {
			// More than the SDK's five attempts of one call.
			return b.sim.Faults().Add(faults.Rule{Operation: "DescribeTargetHealth", ThrottleRate: 1, Times: 7})
		}
		return nil
	}}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if err != nil {
		t.Fatal(err)
	}
	if n := b.sim.Faults().Injected()[faults.Throttle]; n != 7 {
		t.Fatalf("%d calls throttled, want 7", n)
	}
	b.checkDeployed("d-1")
}

// TestBakeRollsBackWhenUncheckable: a bake whose alarms cannot be read at
// all cannot vouch for the new build: traffic goes back.
func TestBakeRollsBackWhenUncheckable(t *testing.T) {
	b := newBed(t, sharedDynalite(t), bedOptions{configJSON: func(sd awsim.Seeded) string {
		return withEnv(defaultConfig(sd), sd.Name, map[string]any{"AlarmNames": sd.Alarms, "BakeTime": "30s"})
	}})
	ctx := testContext(t)
	_, err := b.pipeline(pipeOptions{hook: func(point pipeline.HookPoint, step int) error {
		if point == pipeline.BeforeStep && step == pipeline.StepBake {
			return b.sim.Faults().Add(faults.Rule{Operation: "DescribeAlarms", ErrorRate: 1})
		}
		return nil
	}}).Run(ctx, b.request("d-1", 2, pipeline.ModeDeploy))
	if !errors.Is(err, pipeline.ErrRolledBack) || !strings.Contains(err.Error(), "could not be checked after the swap") {
		t.Fatalf("err = %v, want a rollback", err)
	}
	b.servedBySeed()
}
