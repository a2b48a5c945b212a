package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/rs/zerolog"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/testbed"
	"ecs-deploy/pipeline"
)

// timeScale runs the emulator, and the pipeline's waits with it, this many
// times faster than real time.
const timeScale = 200

func sdkConfig(endpoint string) aws.Config { return sdkConfigAs(endpoint, "AKIDEXAMPLE") }

// sdkConfigAs signs with the access key key.
func sdkConfigAs(endpoint, key string) aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider(key, "secret", ""),
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 5,
	}
}

// simClock runs the pipeline on the emulator's simulated time.
type simClock struct{ sim *awsim.Server }

func (c simClock) Now() time.Time { return c.sim.Now() }

func (c simClock) Sleep(ctx context.Context, d time.Duration) error {
	return pipeline.RealClock{}.Sleep(ctx, c.sim.RealDuration(d))
}

// artifacts is an in-memory ArtifactDB for these tests; the real stores
// come with the ArtifactDB issue.
type artifacts struct {
	mu    sync.Mutex
	items map[string][]pipeline.Artifact
}

func (a *artifacts) add(project string, art pipeline.Artifact) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.items == nil {
		a.items = map[string][]pipeline.Artifact{}
	}
	a.items[project] = append(a.items[project], art)
}

func (a *artifacts) FindArtifact(_ context.Context, project string, sel pipeline.Selector) (pipeline.Artifact, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	list := a.items[project]
	for i := len(list) - 1; i >= 0; i-- {
		if (sel.SHA != "" && list[i].Tags["SHA"] == sel.SHA) || (sel.Build > 0 && list[i].BuildNumber == sel.Build) {
			return list[i], nil
		}
	}
	return pipeline.Artifact{}, fmt.Errorf("%s %s: %w", project, sel, pipeline.ErrArtifactNotFound)
}

// bed is one app on the emulator with a lock table on dynalite.
type bed struct {
	t       testing.TB
	sim     *awsim.Server // the app's account
	url     string        // where the emulator serves every account
	seeded  awsim.Seeded
	ecs     *ecs.Client
	elb     *elb.Client
	cw      *cloudwatch.Client
	db      *dynamodb.Client
	table   string
	config  *pipeline.DeployConfig
	arts    *artifacts
	events  *pipeline.MemorySink
	env     string
	lockers []*pipeline.Locker
	// consistency is how long ECS reads may lag changes.
	consistency time.Duration
}

// seedOf makes a seed from a name, so each bed draws differently.
func seedOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

type bedOptions struct {
	name      string
	timeScale float64 // default timeScale
	// consistency, when set, makes ECS reads lag changes by up to this
	// much simulated time, as on AWS.
	consistency time.Duration
	// account, when set, puts the app in this account of the emulated
	// cloud, not in the one the pipeline's default credentials are of.
	account    string
	configJSON func(sd awsim.Seeded) string // default: defaultConfig
}

var tableSeq struct {
	sync.Mutex
	n int
}

func newBed(t testing.TB, dynamo string, opts bedOptions) *bed {
	t.Helper()
	if opts.name == "" {
		opts.name = "shop"
	}
	if opts.timeScale == 0 {
		opts.timeScale = timeScale
	}
	simCfg := awsim.Config{TimeScale: opts.timeScale}
	readKey := "AKIDEXAMPLE"
	if opts.account != "" {
		readKey = "AKIDREADER"
		simCfg.AccessKeys = map[string]string{readKey: opts.account}
	}
	cloud, err := awsim.New(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	sim := cloud
	if opts.account != "" {
		if sim, err = cloud.Account(opts.account); err != nil {
			t.Fatal(err)
		}
	}
	if opts.consistency > 0 {
		if err := sim.SetConsistency(awsim.Consistency{Delay: opts.consistency, Seed: seedOf(opts.name)}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(cloud)
	t.Cleanup(srv.Close)
	sd, err := sim.Seed(awsim.Scenario{Name: opts.name})
	if err != nil {
		t.Fatal(err)
	}
	cfgJSON := defaultConfig(sd)
	if opts.configJSON != nil {
		cfgJSON = opts.configJSON(sd)
	}
	cfg, err := pipeline.LoadConfig(strings.NewReader(cfgJSON))
	if err != nil {
		t.Fatal(err)
	}
	tableSeq.Lock()
	tableSeq.n++
	table := fmt.Sprintf("DeployLock%d", tableSeq.n)
	tableSeq.Unlock()
	b := &bed{
		t: t, sim: sim, seeded: sd, consistency: opts.consistency, url: srv.URL,
		ecs:    ecs.NewFromConfig(sdkConfigAs(srv.URL, readKey)),
		elb:    elb.NewFromConfig(sdkConfigAs(srv.URL, readKey)),
		cw:     cloudwatch.NewFromConfig(sdkConfigAs(srv.URL, readKey)),
		db:     dynamodb.NewFromConfig(sdkConfig(dynamo)),
		table:  table,
		config: cfg,
		arts:   &artifacts{},
		events: &pipeline.MemorySink{},
		env:    "prod",
	}
	for build := 1; build <= 5; build++ {
		b.arts.add(opts.name, pipeline.Artifact{BuildNumber: build, Value: fmt.Sprintf("%s:build-%d", opts.name, build),
			Tags: map[string]string{"SHA": fmt.Sprintf("sha%d", build)}})
	}
	lk := b.locker("setup")
	if err := lk.CreateTable(t.Context(), b.db); err != nil {
		t.Fatal(err)
	}
	return b
}

// defaultConfig is a config in the original tool's form for the seeded app.
func defaultConfig(sd awsim.Seeded) string {
	cfg := map[string]any{
		"ConfigAccountID": sd.AccountID,
		"ConfigRegion":    sd.Region,
		"Apps": map[string]any{
			sd.Name: map[string]any{
				"ArtifactDBProjectName": sd.Name,
				"ContainerDefinitionTemplates": []any{map[string]any{
					"Name":         sd.ContainerName,
					"Image":        "{{.Artifact.Value}}",
					"Essential":    true,
					"PortMappings": []any{map[string]any{"containerPort": sd.ContainerPort}},
					"Environment":  []any{map[string]any{"Name": "ENV", "Value": "{{.Environment}}"}},
				}},
				"Environments": map[string]any{
					"prod": map[string]any{
						"AccountID":       sd.AccountID,
						"Region":          sd.Region,
						"Cluster":         sd.Cluster,
						"Family":          sd.Service,
						"CPU":             "256",
						"Memory":          "512",
						"SecurityGroups":  sd.SecurityGroups,
						"Subnets":         sd.Subnets,
						"ListenerARN":     sd.ListenerArn,
						"TargetGroupARNs": sd.TargetGroupArns,
					},
				},
			},
		},
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return string(b)
}

func (b *bed) locker(owner string) *pipeline.Locker {
	return b.lockerOn(b.db, owner)
}

func (b *bed) lockerOn(db *dynamodb.Client, owner string) *pipeline.Locker {
	b.t.Helper()
	lk, err := pipeline.NewLocker(db, pipeline.LockConfig{Table: b.table, Owner: owner, Lease: time.Second, Heartbeat: 200 * time.Millisecond})
	if err != nil {
		b.t.Fatal(err)
	}
	b.lockers = append(b.lockers, lk)
	b.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = lk.Close(ctx)
	})
	return lk
}

type pipeOptions struct {
	owner string
	hook  func(pipeline.HookPoint, int) error
	// dynamo, when set, is the DynamoDB endpoint of this pipeline's lock.
	dynamo string
	// clients, when set, gives the pipeline its AWS clients; by default
	// they are the bed's own.
	clients pipeline.ClientsFunc
	// artifactDB and results, when set, replace the bed's artifacts and
	// record deploy results.
	artifactDB pipeline.ArtifactDB
	results    pipeline.ResultRecorder
	// events, when set, receives the events instead of the bed's sink.
	events pipeline.Sink
}

func (b *bed) pipeline(o pipeOptions) *pipeline.Pipeline {
	b.t.Helper()
	if o.owner == "" {
		o.owner = "daemon-a"
	}
	locker := b.locker(o.owner)
	if o.dynamo != "" {
		locker = b.lockerOn(dynamodb.NewFromConfig(sdkConfig(o.dynamo)), o.owner)
	}
	clients := o.clients
	if clients == nil {
		clients = func(context.Context, string, string) (pipeline.Clients, error) {
			return pipeline.Clients{ECS: b.ecs, ELB: b.elb, CloudWatch: b.cw}, nil
		}
	}
	var arts pipeline.ArtifactDB = b.arts
	if o.artifactDB != nil {
		arts = o.artifactDB
	}
	var sink pipeline.Sink = b.events
	if o.events != nil {
		sink = o.events
	}
	p, err := pipeline.New(pipeline.Config{
		Deploy:     b.config,
		Clients:    clients,
		ArtifactDB: arts,
		Results:    o.results,
		Locker:     locker,
		Events:     sink,
		Clock:      simClock{b.sim},
		Hook:       o.hook,
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return p
}

func (b *bed) request(id string, build int, mode pipeline.Mode) pipeline.Request {
	return pipeline.Request{DeployID: id, App: b.seeded.Name, Env: b.env, Artifact: pipeline.Selector{Build: build},
		ConfigSHA: "cfg1", Mode: mode, RequestedBy: "test", CorrelationID: "corr-" + id}
}

func testContext(t *testing.T) context.Context {
	logger := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	return logger.WithContext(t.Context())
}

// endState is what a user checks after a deploy.
type endState struct {
	taskSets []ecstypes.TaskSet
	serving  string // colour of the lower-priority rule
}

func (b *bed) endState() endState {
	b.t.Helper()
	ctx := b.t.Context()
	sets := b.taskSets()
	prio := map[string]string{}
	for p := elb.NewDescribeRulesPaginator(b.elb, &elb.DescribeRulesInput{ListenerArn: &b.seeded.ListenerArn}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			b.t.Fatal(err)
		}
		for _, r := range page.Rules {
			prio[*r.RuleArn] = *r.Priority
		}
	}
	serving := "blue"
	if atoi(prio[b.seeded.RuleArns["green"]]) < atoi(prio[b.seeded.RuleArns["blue"]]) {
		serving = "green"
	}
	return endState{taskSets: sets, serving: serving}
}

// taskSets lists the service's task sets as a user would: DescribeServices
// (DescribeTaskSets needs their IDs).
//
// With eventual consistency on, it first lets the longest lag pass, as a
// user looking after a deploy would.
func (b *bed) taskSets() []ecstypes.TaskSet {
	b.t.Helper()
	time.Sleep(b.sim.RealDuration(b.consistency))
	out, err := b.ecs.DescribeServices(b.t.Context(), &ecs.DescribeServicesInput{Cluster: &b.seeded.Cluster, Services: []string{b.seeded.Service}})
	if err != nil {
		b.t.Fatal(err)
	}
	if len(out.Services) != 1 {
		b.t.Fatalf("service %s: %+v", b.seeded.Service, out.Failures)
	}
	return out.Services[0].TaskSets
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}

// checkDeployed asserts the end state of a finished deploy: exactly one
// PRIMARY task set, the deploy's, behind the serving rule; at most one
// other, ACTIVE, on the other target group; the lock released with the
// status done; and no downtime at any moment.
func (b *bed) checkDeployed(deployID string) {
	b.t.Helper()
	b.checkServing(deployID)
	b.checkLockReleased(deployID, pipeline.StateSucceeded)
}

// checkServing asserts the task sets and rules of a finished deploy, and
// that there was no downtime.
func (b *bed) checkServing(deployID string) {
	b.t.Helper()
	es := b.endState()
	var primary []ecstypes.TaskSet
	var others []ecstypes.TaskSet
	for _, ts := range es.taskSets {
		if aws.ToString(ts.Status) == "PRIMARY" {
			primary = append(primary, ts)
		} else {
			others = append(others, ts)
		}
	}
	if len(primary) != 1 {
		b.t.Fatalf("%d PRIMARY task sets, want 1: %s", len(primary), describe(es.taskSets))
	}
	p := primary[0]
	if aws.ToString(p.ExternalId) != deployID {
		b.t.Fatalf("PRIMARY is %s (externalId %q), want deploy %s: %s", aws.ToString(p.Id), aws.ToString(p.ExternalId), deployID, describe(es.taskSets))
	}
	servingTG := b.seeded.TargetGroupArns[es.serving]
	if aws.ToString(p.LoadBalancers[0].TargetGroupArn) != servingTG {
		b.t.Fatalf("PRIMARY is on %s but %s serves", aws.ToString(p.LoadBalancers[0].TargetGroupArn), es.serving)
	}
	if p.RunningCount != p.ComputedDesiredCount || p.RunningCount == 0 {
		b.t.Fatalf("PRIMARY runs %d of %d tasks", p.RunningCount, p.ComputedDesiredCount)
	}
	if len(others) > 1 {
		b.t.Fatalf("%d task sets besides the PRIMARY, want at most 1: %s", len(others), describe(es.taskSets))
	}
	for _, o := range others {
		if aws.ToString(o.Status) != "ACTIVE" || aws.ToString(o.LoadBalancers[0].TargetGroupArn) == servingTG {
			b.t.Fatalf("other task set %s is %s on %s: %s", aws.ToString(o.Id), aws.ToString(o.Status), aws.ToString(o.LoadBalancers[0].TargetGroupArn), describe(es.taskSets))
		}
	}
	if d := b.sim.Downtime(); len(d) != 0 {
		b.t.Fatalf("downtime: %+v", d)
	}
}

// checkLockReleased reads the lock item: released, with the status of the
// deploy marked with its final state.
func (b *bed) checkLockReleased(deployID string, state pipeline.State) {
	b.t.Helper()
	out, err := b.db.GetItem(b.t.Context(), &dynamodb.GetItemInput{TableName: aws.String(b.table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"key": &ddbtypes.AttributeValueMemberS{Value: pipeline.LockKey(b.seeded.Name, b.env)}}})
	if err != nil {
		b.t.Fatal(err)
	}
	// dynamolock marks a released lock with isReleased = "1".
	if rel, ok := out.Item["isReleased"].(*ddbtypes.AttributeValueMemberS); !ok || rel.Value != "1" {
		b.t.Fatalf("lock not released: %v", out.Item["isReleased"])
	}
	st, ok, err := b.lockers[0].Status(b.t.Context(), pipeline.LockKey(b.seeded.Name, b.env))
	if err != nil || !ok {
		b.t.Fatalf("status: %v %v", ok, err)
	}
	if st.DeployID != deployID || st.State != state {
		b.t.Fatalf("status says deploy %s %s (step %d, %s), want %s %s", st.DeployID, st.State, st.Step, st.Error, deployID, state)
	}
}

func describe(sets []ecstypes.TaskSet) string {
	var parts []string
	for _, ts := range sets {
		tg := ""
		if len(ts.LoadBalancers) > 0 {
			tg = aws.ToString(ts.LoadBalancers[0].TargetGroupArn)
			tg = tg[strings.Index(tg, "targetgroup/")+12:]
		}
		parts = append(parts, fmt.Sprintf("[%s %s ext=%s on %s running=%d]", aws.ToString(ts.Id), aws.ToString(ts.Status), aws.ToString(ts.ExternalId), tg, ts.RunningCount))
	}
	return strings.Join(parts, " ")
}

var errCrash = errors.New("simulated crash")

func (b *bed) ctx() context.Context { return b.t.Context() }

// sharedDynalite is one dynalite for a test and its subtests.
func sharedDynalite(t testing.TB) string {
	return testbed.Dynalite(t)
}

// status reads the deploy status from the lock table.
func (b *bed) status() pipeline.Status {
	b.t.Helper()
	st, _, err := b.lockers[0].Status(b.t.Context(), pipeline.LockKey(b.seeded.Name, b.env))
	if err != nil {
		b.t.Fatal(err)
	}
	return st
}

// waitForStep waits until the status says deploy id runs step.
func (b *bed) waitForStep(id string, step int) {
	b.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st := b.status(); st.DeployID == id && st.Step == step && st.State == pipeline.StateRunning {
			return
		}
	}
	b.t.Fatalf("deploy %s never reached step %d: %+v", id, step, b.status())
}

// checkPrimary asserts that task set arn is PRIMARY behind the serving
// rule, and that there was no downtime.
func (b *bed) checkPrimary(arn string) {
	b.t.Helper()
	es := b.endState()
	servingTG := b.seeded.TargetGroupArns[es.serving]
	for _, ts := range es.taskSets {
		if aws.ToString(ts.Status) != "PRIMARY" {
			continue
		}
		if aws.ToString(ts.TaskSetArn) != arn || aws.ToString(ts.LoadBalancers[0].TargetGroupArn) != servingTG {
			b.t.Fatalf("PRIMARY %s on %s, %s serves; want %s PRIMARY and serving: %s",
				aws.ToString(ts.Id), aws.ToString(ts.LoadBalancers[0].TargetGroupArn), es.serving, arn, describe(es.taskSets))
		}
		if d := b.sim.Downtime(); len(d) != 0 {
			b.t.Fatalf("downtime: %+v", d)
		}
		return
	}
	b.t.Fatalf("no PRIMARY task set: %s", describe(es.taskSets))
}

// taskSetOf returns the ARN of the task set deploy id created.
func (b *bed) taskSetOf(id string) string {
	b.t.Helper()
	for _, ts := range b.taskSets() {
		if aws.ToString(ts.ExternalId) == id {
			return aws.ToString(ts.TaskSetArn)
		}
	}
	b.t.Fatalf("no task set of deploy %s", id)
	return ""
}

// recorder is a program that appends its arguments, a line a run, to a log
// the test reads: the pre-, post- and verify commands of a config.
type recorder struct{ program, log string }

func newRecorder(t testing.TB) recorder {
	dir := t.TempDir()
	rc := recorder{program: filepath.Join(dir, "record"), log: filepath.Join(dir, "log")}
	script := "#!/bin/sh\necho \"$*\" >> " + rc.log + "\n"
	if err := os.WriteFile(rc.program, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return rc
}

// commands gives an app pre-deploy, verify and post-deploy commands that
// record themselves: "pre", "verify <task definition>", "post <task
// definition>".
func (rc recorder) commands(cfg, app string) string {
	cmd := func(args ...string) []any {
		return []any{map[string]any{"Program": rc.program, "Arguments": args}}
	}
	return withApp(cfg, app, map[string]any{
		"PreDeployCommandTemplates":  cmd("pre"),
		"VerifyCommandTemplates":     cmd("verify", "{{.TaskDefinition}}"),
		"PostDeployCommandTemplates": cmd("post", "{{.TaskDefinition}}"),
	})
}

func (rc recorder) lines(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(rc.log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// family returns family:revision of a task definition ARN, as templates
// render .TaskDefinition.
func family(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// health describes the targets of a target group.
func (b *bed) health(tg string) []elbtypes.TargetHealthDescription {
	b.t.Helper()
	out, err := b.elb.DescribeTargetHealth(b.ctx(), &elb.DescribeTargetHealthInput{TargetGroupArn: &tg})
	if err != nil {
		b.t.Fatal(err)
	}
	return out.TargetHealthDescriptions
}
