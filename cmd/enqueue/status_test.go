package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"ecs-deploy/internal/appstatus"
	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/sandbox"
	"ecs-deploy/pipeline"
)

// TestStatus deploys build 2 with the pipeline against the sandbox's
// stand-ins, then holds the lock as a running deploy would, and checks
// what `enqueue status` prints, as text and as JSON.
func TestStatus(t *testing.T) {
	stack, err := sandbox.StartStack(sandbox.StackConfig{Apps: []string{"shop"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	for _, kv := range stack.Endpoints() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": ""} {
		t.Setenv(k, v)
	}
	ctx := t.Context()
	// Every client finds its stand-in through AWS_ENDPOINT_URL_<SERVICE>.
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := sandbox.DefaultNames()
	if _, err := sandbox.Provision(ctx, cfg, names, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := sandbox.WriteFiles(dir, []awsim.Seeded{stack.Seeded["shop"]}, sandbox.FilesConfig{BakeTime: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	deployCfg, err := pipeline.LoadConfigFile(files.Config)
	if err != nil {
		t.Fatal(err)
	}
	ddb := dynamodb.NewFromConfig(cfg)
	locker, err := pipeline.NewLocker(ddb, pipeline.LockConfig{Table: names.LockTable, Owner: "test-daemon", Lease: 3 * time.Second, Heartbeat: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	clients := func(context.Context, string, string) (pipeline.Clients, error) {
		return pipeline.Clients{ECS: ecs.NewFromConfig(cfg), ELB: elb.NewFromConfig(cfg), CloudWatch: cloudwatch.NewFromConfig(cfg)}, nil
	}
	p, err := pipeline.New(pipeline.Config{Deploy: deployCfg, Clients: clients, ArtifactDB: artifactdb.File{Path: files.Artifacts}, Locker: locker,
		Poll: 50 * time.Millisecond, SlowPoll: 100 * time.Millisecond, BakePoll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(ctx, pipeline.Request{DeployID: "deploy-2", App: "shop", Env: "prod", Artifact: pipeline.Selector{Build: 2},
		ConfigSHA: "c0ffee1234567890", RequestedBy: "alice"}); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	code, err := runStatus(ctx, []string{"-config", files.Config}, env(nil), &out, io.Discard)
	if code != 0 || err != nil {
		t.Fatalf("status: exit %d, %v\n%s", code, err, out.String())
	}
	text := out.String()
	for _, want := range []string{"shop prod", "serving      green  shop:2", "PRIMARY, 2/2 running", "build 2 (shop:build-2), config c0ffee123456",
		"rollback to  blue  shop:1  unknown (task set of deploy \"seed\")", "running      none", "last         deploy deploy-2 succeeded at step 12"} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}

	// A deploy running now: the lock is held and its status says step 7.
	lk, prev, _, err := locker.Acquire(ctx, pipeline.LockKey("shop", "prod"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lk.Release(context.WithoutCancel(ctx), prev) }()
	running := pipeline.Status{Version: pipeline.StatusVersion, DeployID: "deploy-3", App: "shop", Env: "prod", Mode: pipeline.ModeDeploy,
		State: pipeline.StateRunning, Step: 7, Artifact: pipeline.Artifact{BuildNumber: 3, Value: "shop:build-3"}, ConfigSHA: "c0ffee1234567890",
		RequestedBy: "bob", NewColour: "blue", PreviousColour: "green", PreviousTaskSetArn: prev.NewTaskSetArn, PreviousArtifact: &prev.Artifact}
	if err := lk.Save(ctx, running); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code, err = runStatus(ctx, []string{"-config", files.Config, "-app", "shop", "-env", "prod", "-o", "json"}, env(nil), &out, io.Discard)
	if code != 0 || err != nil {
		t.Fatalf("status -o json: exit %d, %v\n%s", code, err, out.String())
	}
	var all []appstatus.AppEnv
	if err := json.Unmarshal(out.Bytes(), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("%d statuses", len(all))
	}
	s := all[0]
	if s.Serving != "green" || s.ServingTaskSet == nil || s.ServingTaskSet.Build != 2 || s.Running == nil ||
		s.Running.DeployID != "deploy-3" || s.Running.Step != 7 || s.Running.StepName != "wait for steady state" ||
		s.Running.RequestedBy != "bob" || s.Running.Owner != "test-daemon" {
		t.Fatalf("status: %+v running %+v", s, s.Running)
	}
	// An unknown environment is a usage error.
	if code, err := runStatus(ctx, []string{"-config", files.Config, "-app", "shop", "-env", "staging"}, env(nil), io.Discard, io.Discard); code != exitUsage || err == nil {
		t.Fatalf("unknown env: exit %d, %v", code, err)
	}
}
