package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"ecs-deploy/internal/awsim"
)

// startAwsim runs the command on a free loopback port and returns its
// endpoint and what it seeded.
func startAwsim(t *testing.T, args ...string) (string, []awsim.Seeded) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), w, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("awsim exited with %v", err)
		}
	})
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, r) }()
	var out struct {
		Endpoint string         `json:"endpoint"`
		Seeded   []awsim.Seeded `json:"seeded"`
	}
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		t.Fatalf("first line %q: %v", line, err)
	}
	return out.Endpoint, out.Seeded
}

func TestRunRejectsBadFlags(t *testing.T) {
	if err := run(t.Context(), []string{"-scale", "-1"}, io.Discard, io.Discard); err == nil {
		t.Fatal("negative scale accepted")
	}
	if err := run(t.Context(), []string{"-seed", "bad name!"}, io.Discard, io.Discard); err == nil {
		t.Fatal("invalid scenario name accepted")
	}
}

// TestAWSCLI points the AWS CLI at the command: it lists and describes what
// was seeded, swaps the rule priorities and manages task sets, and sees
// the refusals of DescribeTaskSets without task sets, of a task set on a
// target group no load balancer uses, and of a sixth task set.
func TestAWSCLI(t *testing.T) {
	awsCLI, err := exec.LookPath("aws")
	if err != nil {
		t.Fatal("the AWS CLI is not installed: apt-get install awscli (CI does it in .ci/run)")
	}
	endpoint, seeded := startAwsim(t, "-seed", "demo", "-scale", "100")
	if len(seeded) != 1 {
		t.Fatalf("seeded %d scenarios", len(seeded))
	}
	sd := seeded[0]
	cli := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(awsCLI, append(args, "--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json")...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
		out, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		m := map[string]any{}
		if len(strings.TrimSpace(string(out))) > 0 {
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatalf("aws %s printed %s", strings.Join(args, " "), out)
			}
		}
		return m
	}
	// refused runs a command AWS refuses and checks the error the CLI
	// prints: the operation, the error code and the message.
	refused := func(op, code, message string, args ...string) {
		t.Helper()
		cmd := exec.Command(awsCLI, append(args, "--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json")...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1")
		out, err := cmd.CombinedOutput()
		want := "An error occurred (" + code + ") when calling the " + op + " operation: " + message
		if err == nil || !strings.Contains(string(out), want) {
			t.Fatalf("aws %s: err %v, output %s\nwant %q", strings.Join(args, " "), err, out, want)
		}
	}
	list := func(m map[string]any, key string) []any { l, _ := m[key].([]any); return l }
	field := func(v any, key string) string { s, _ := v.(map[string]any)[key].(string); return s }

	if got := list(cli("ecs", "list-clusters"), "clusterArns"); len(got) != 1 || got[0] != sd.ClusterArn {
		t.Fatalf("list-clusters: %v", got)
	}
	if got := list(cli("ecs", "list-services", "--cluster", sd.Cluster), "serviceArns"); len(got) != 1 {
		t.Fatalf("list-services: %v", got)
	}
	// The CLI marks --task-sets optional and sends the call; the server
	// refuses it, as AWS does (aws/aws-cli#5380).
	refused("DescribeTaskSets", "InvalidParameterException", "TaskSets cannot be empty.",
		"ecs", "describe-task-sets", "--cluster", sd.Cluster, "--service", sd.Service)
	sets := list(cli("ecs", "describe-task-sets", "--cluster", sd.Cluster, "--service", sd.Service, "--task-sets", sd.PrimaryTaskSetArn), "taskSets")
	if len(sets) != 1 || field(sets[0], "status") != "PRIMARY" {
		t.Fatalf("describe-task-sets: %v", sets)
	}
	if got := list(cli("elbv2", "describe-target-groups", "--load-balancer-arn", sd.LoadBalancerArn), "TargetGroups"); len(got) != 2 {
		t.Fatalf("describe-target-groups: %v", got)
	}
	if got := list(cli("elbv2", "describe-target-health", "--target-group-arn", sd.TargetGroupArns["blue"]), "TargetHealthDescriptions"); len(got) != 2 {
		t.Fatalf("describe-target-health: %v", got)
	}
	if got := list(cli("cloudwatch", "describe-alarms"), "MetricAlarms"); len(got) != 1 {
		t.Fatalf("describe-alarms: %v", got)
	}

	createTaskSet := func(externalID, targetGroup string) []string {
		return []string{"ecs", "create-task-set", "--cluster", sd.Cluster, "--service", sd.Service, "--task-definition", sd.TaskDefinitionArn,
			"--external-id", externalID, "--launch-type", "FARGATE",
			"--network-configuration", "awsvpcConfiguration={subnets=[" + sd.Subnets[0] + "]}",
			"--load-balancers", "targetGroupArn=" + targetGroup + ",containerName=" + sd.ContainerName + ",containerPort=8080"}
	}

	// A target group no listener forwards to is refused.
	loose := list(cli("elbv2", "create-target-group", "--name", "demo-loose", "--protocol", "HTTP", "--port", "8080",
		"--vpc-id", "vpc-1", "--target-type", "ip"), "TargetGroups")
	looseArn := field(loose[0], "TargetGroupArn")
	refused("CreateTaskSet", "InvalidParameterException", "The target group with targetGroupArn "+looseArn+" does not have an associated load balancer.",
		createTaskSet("cli-loose", looseArn)...)

	// A task set on green, made primary once steady; traffic swapped.
	ts := cli(createTaskSet("cli-1", sd.TargetGroupArns["green"])...)
	greenID := field(ts["taskSet"], "id")
	deadline := time.Now().Add(30 * time.Second)
	for {
		sets := list(cli("ecs", "describe-task-sets", "--cluster", sd.Cluster, "--service", sd.Service, "--task-sets", greenID), "taskSets")
		if len(sets) == 1 && field(sets[0], "stabilityStatus") == "STEADY_STATE" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("green task set not steady: %v", sets)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cli("elbv2", "set-rule-priorities", "--rule-priorities",
		"RuleArn="+sd.RuleArns["blue"]+",Priority=20", "RuleArn="+sd.RuleArns["green"]+",Priority=10")
	rules := list(cli("elbv2", "describe-rules", "--listener-arn", sd.ListenerArn), "Rules")
	if field(rules[0], "RuleArn") != sd.RuleArns["green"] || field(rules[0], "Priority") != "10" {
		t.Fatalf("after the swap the first rule is %v", rules[0])
	}
	cli("ecs", "update-service-primary-task-set", "--cluster", sd.Cluster, "--service", sd.Service, "--primary-task-set", greenID)
	cli("ecs", "update-task-set", "--cluster", sd.Cluster, "--service", sd.Service, "--task-set", sd.PrimaryTaskSetArn, "--scale", "value=0,unit=PERCENT")
	cli("ecs", "delete-task-set", "--cluster", sd.Cluster, "--service", sd.Service, "--task-set", sd.PrimaryTaskSetArn, "--force")
	deadline = time.Now().Add(30 * time.Second)
	for {
		services := list(cli("ecs", "describe-services", "--cluster", sd.Cluster, "--services", sd.Service), "services")
		sets := list(services[0].(map[string]any), "taskSets")
		if len(sets) == 1 && field(sets[0], "id") == greenID && field(sets[0], "status") == "PRIMARY" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old task set not gone: %v", sets)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Four more task sets make five; the sixth is refused.
	for i := range 4 {
		cli(createTaskSet(fmt.Sprintf("cli-%d", i+2), sd.TargetGroupArns["blue"])...)
	}
	refused("CreateTaskSet", "InvalidParameterException", "5 deployments exist on the service. Unable to create new TaskSet since this exceeds the maximum limit.",
		createTaskSet("cli-6", sd.TargetGroupArns["blue"])...)
}
