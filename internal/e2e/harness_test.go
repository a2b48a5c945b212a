package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"ecs-deploy/events"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/eventbus"
	"ecs-deploy/internal/faults"
	"ecs-deploy/internal/sqsx"
	"ecs-deploy/internal/testbed"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbed.RemoveCommands()
	os.Exit(code)
}

const topicName = "deploy-events"

// secretKey is the AWS secret the commands run with: it must never be logged.
const secretKey = "e2e-secret-never-in-logs"

// world is one test's AWS: goaws, dynalite and the emulator with seeded apps.
type world struct {
	t      *testing.T
	dir    string
	sim    *awsim.Server
	simURL string
	goaws  string
	dynamo string
	// daemonGoaws and daemonDynamo are the endpoints the commands use:
	// proxies that inject daemonFaults; daemonGoaws and testGoaws (the test's
	// own SQS and SNS clients) also report senders and send times as SQS
	// does (sqsIdentity).
	daemonGoaws, daemonDynamo, testGoaws string
	daemonFaults                         *faults.Injector
	identity                             *sqsIdentity
	visibility                           time.Duration
	seeded                               map[string]awsim.Seeded
	sqs                                  *sqs.Client
	sns                                  *sns.Client
	topicArn                             string
	queueURL                             string
	// queueName is the request queue; its dead-letter queue is created by
	// the daemons.
	queueName string
	events    *eventLog
	// storeArgs name the daemons' ArtifactDB store.
	storeArgs []string
}

type worldOptions struct {
	apps []string
	// flaky, when set, puts these faults between the daemons and goaws and
	// dynalite.
	flaky *faults.Rule
	// queue is the request queue's name; default "deploy-requests".
	queue string
	// app config fields added to every app, such as VerifyCommandTemplates.
	appFields map[string]any
	policy    string
	// configRepo, when set, serves the config from a git repository whose
	// origin has it on main (see configRepo); default a plain file.
	configRepo bool
	// visibility is the request queue's visibility timeout and the
	// daemons' -visibility-timeout. Default 6s.
	visibility time.Duration
	// artifactsTable, when set, is the daemons' ArtifactDB store
	// (-artifacts-table, made by -create-resources) instead of the
	// artifacts file.
	artifactsTable string
}

func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	if len(o.apps) == 0 {
		o.apps = []string{"shop"}
	}
	if o.queue == "" {
		o.queue = "deploy-requests"
	}
	if o.visibility == 0 {
		o.visibility = 6 * time.Second
	}
	sim, err := awsim.New(awsim.Config{TimeScale: 100})
	if err != nil {
		t.Fatal(err)
	}
	// ECS reads lag changes, as on AWS.
	if err := sim.SetConsistency(awsim.Consistency{Delay: 2 * time.Second, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	w := &world{t: t, dir: t.TempDir(), sim: sim, simURL: srv.URL, goaws: testbed.Goaws(t), dynamo: testbed.Dynalite(t), seeded: map[string]awsim.Seeded{},
		daemonFaults: faults.NewInjector(7), identity: newSQSIdentity(), visibility: o.visibility}
	if o.flaky != nil {
		if err := w.daemonFaults.Add(*o.flaky); err != nil {
			t.Fatal(err)
		}
	}
	w.daemonGoaws = proxy(t, w.goaws, w.daemonFaults, w.identity)
	w.testGoaws = proxy(t, w.goaws, faults.NewInjector(1), w.identity)
	w.daemonDynamo = proxy(t, w.dynamo, w.daemonFaults, nil)
	for _, app := range o.apps {
		sd, err := sim.Seed(awsim.Scenario{Name: app})
		if err != nil {
			t.Fatal(err)
		}
		w.seeded[app] = sd
	}
	w.writeConfig(o.appFields)
	w.writeFile("artifacts.json", artifacts(o.apps))
	w.storeArgs = []string{"-artifacts", filepath.Join(w.dir, "artifacts.json")}
	if o.artifactsTable != "" {
		w.storeArgs = []string{"-artifacts-table", o.artifactsTable}
	}
	if o.policy != "" {
		w.writeFile("policy.json", o.policy)
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), BaseEndpoint: aws.String(w.testGoaws)}
	w.sqs, w.sns = sqs.NewFromConfig(cfg), sns.NewFromConfig(cfg)
	ctx := t.Context()
	topic, err := w.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(topicName)})
	if err != nil {
		t.Fatal(err)
	}
	w.topicArn = aws.ToString(topic.TopicArn)
	// The queue the daemons share, with its dead-letter queue and redrive
	// policy as -create-resources makes them in production.
	dlq, err := sqsx.DeadLetterName(o.queue)
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqsx.CreateRequestQueues(ctx, w.sqs, o.queue, dlq, o.visibility)
	if err != nil {
		t.Fatal(err)
	}
	w.queueURL = q.URL
	w.queueName = o.queue
	w.identity.mu.Lock()
	w.identity.requestQueue = o.queue
	w.identity.mu.Unlock()
	if o.configRepo {
		w.configRepo()
	}
	f, err := eventbus.Follow(ctx, w.sqs, w.sns, w.topicArn, eventbus.FollowOptions{NoQueuePolicy: true})
	if err != nil {
		t.Fatal(err)
	}
	w.events = newEventLog(t, f)
	return w
}

func (w *world) writeFile(name, content string) string {
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

func artifacts(apps []string) string {
	all := map[string][]map[string]any{}
	for _, app := range apps {
		for build := 1; build <= 5; build++ {
			all[app] = append(all[app], map[string]any{"build_number": build, "value": fmt.Sprintf("%s:build-%d", app, build),
				"tags": map[string]string{"SHA": fmt.Sprintf("abc%d", build)}})
		}
	}
	b, _ := json.Marshal(all)
	return string(b)
}

// envConfig is the config of an environment served by a seeded service.
func envConfig(sd awsim.Seeded) map[string]any {
	return map[string]any{
		"Cluster": sd.Cluster, "Family": sd.Service, "CPU": "256", "Memory": "512", "Subnets": sd.Subnets, "SecurityGroups": sd.SecurityGroups,
		"ListenerARN": sd.ListenerArn, "TargetGroupARNs": sd.TargetGroupArns}
}

// appConfig is the config of an app whose containers are a seeded
// service's, deployed to envs.
func appConfig(name string, sd awsim.Seeded, envs map[string]any) map[string]any {
	return map[string]any{
		"ArtifactDBProjectName": name,
		"ContainerDefinitionTemplates": []any{map[string]any{"Name": sd.ContainerName, "Image": "{{.Artifact.Value}}",
			"PortMappings": []any{map[string]any{"containerPort": sd.ContainerPort}}}},
		"Environments": envs,
	}
}

func (w *world) writeConfig(appFields map[string]any) {
	apps := map[string]any{}
	for name, sd := range w.seeded {
		app := appConfig(name, sd, map[string]any{"prod": envConfig(sd)})
		for k, v := range appFields {
			app[k] = v
		}
		apps[name] = app
	}
	w.writeApps(apps)
}

// writeApps writes the deploy config of apps, kept in the emulator's
// default account and region.
func (w *world) writeApps(apps map[string]any) string {
	b, _ := json.MarshalIndent(map[string]any{"ConfigAccountID": "123456789012", "ConfigRegion": "us-east-1", "Apps": apps}, "", " ")
	return w.writeFile("deploy-config.json", string(b))
}

// env is what the commands need to reach the test's AWS.
func (w *world) env() []string {
	return append(os.Environ(),
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY="+secretKey, "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL_SQS="+w.daemonGoaws, "AWS_ENDPOINT_URL_SNS="+w.daemonGoaws, "AWS_ENDPOINT_URL_DYNAMODB="+w.daemonDynamo,
		"AWS_ENDPOINT_URL_ECS="+w.simURL, "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2="+w.simURL, "AWS_ENDPOINT_URL_CLOUDWATCH="+w.simURL,
		"AWS_ENDPOINT_URL_STS="+w.simURL,
		"ECS_DEPLOY_QUEUE="+w.queueName, "ECS_DEPLOY_TOPIC_ARN="+w.topicArn, "ECS_DEPLOY_NO_QUEUE_POLICY=true",
	)
}

// daemon is one running daemon process.
type daemon struct {
	cmd  *exec.Cmd
	addr string
	log  string
	done chan error
}

func (w *world) startDaemon(name string, extra ...string) *daemon {
	w.t.Helper()
	return w.startDaemonWith(name, nil, extra...)
}

// startDaemonWith starts a daemon with variables added to its environment.
func (w *world) startDaemonWith(name string, env []string, extra ...string) *daemon {
	w.t.Helper()
	bin := testbed.Command(w.t, "daemon")
	port := testbed.FreePort(w.t)
	args := append([]string{"-create-resources"}, w.storeArgs...)
	args = append(args, "-listen", "127.0.0.1:"+strconv.Itoa(port), "-owner", name,
		"-poll", "100ms", "-slow-poll", "300ms", "-bake-poll", "200ms", "-lock-lease", "2s", "-lock-heartbeat", "400ms",
		"-visibility-timeout", w.visibility.String(), "-order-window", "1s", "-sweep-interval", "1s",
		"-log-format", "json", "-log-level", "debug")
	if _, err := os.Stat(filepath.Join(w.dir, "config-clone")); err == nil {
		args = append(args, "-config-repo", filepath.Join(w.dir, "config-clone"))
	} else {
		args = append(args, "-config-file", filepath.Join(w.dir, "deploy-config.json"))
	}
	if _, err := os.Stat(filepath.Join(w.dir, "policy.json")); err == nil {
		args = append(args, "-policy", filepath.Join(w.dir, "policy.json"))
	} else {
		args = append(args, "-allow-any-sender")
	}
	d := &daemon{addr: "127.0.0.1:" + strconv.Itoa(port), log: filepath.Join(w.dir, name+".log"), done: make(chan error, 1)}
	logFile, err := os.Create(d.log)
	if err != nil {
		w.t.Fatal(err)
	}
	d.cmd = exec.Command(bin, append(args, extra...)...)
	d.cmd.Env = append(w.env(), env...)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	if err := d.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait(); logFile.Close() }()
	w.t.Cleanup(func() {
		d.stop(w.t)
		if w.t.Failed() {
			b, _ := os.ReadFile(d.log)
			if dir := os.Getenv("E2E_KEEP_LOGS"); dir != "" {
				_ = os.WriteFile(filepath.Join(dir, w.t.Name()+"-"+name+".log"), b, 0o600)
			}
			var errs []string
			for _, line := range strings.Split(string(b), "\n") {
				if (strings.Contains(line, `"level":"error"`) || strings.Contains(line, `"request queued"`)) && len(errs) < 20 {
					errs = append(errs, tail(line, 600))
				}
			}
			w.t.Logf("%s log errors:\n%s\n%s log (last 6000 bytes):\n%s", name, strings.Join(errs, "\n"), name, tail(string(b), 6000))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + d.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return d
			}
		}
		select {
		case err := <-d.done:
			b, _ := os.ReadFile(d.log)
			w.t.Fatalf("daemon %s exited (%v):\n%s", name, err, b)
		default:
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("daemon %s not ready in 30s", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// stop sends SIGTERM and waits; the daemon must exit by itself.
func (d *daemon) stop(t *testing.T) {
	if d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		t.Errorf("daemon did not stop within 30s of SIGTERM")
	}
}

func (d *daemon) kill() {
	_ = d.cmd.Process.Kill()
	<-d.done
}

// enqueue runs the CLI and returns its exit code and output.
func (w *world) enqueue(args ...string) (int, string) {
	w.t.Helper()
	bin := testbed.Command(w.t, "enqueue")
	cmd := exec.Command(bin, args...)
	cmd.Env = append(w.env(), "USER=e2e")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return 0, string(out)
}

// send puts a raw message on the request queue with a correlation ID.
func (w *world) send(body, correlationID string) string {
	w.t.Helper()
	return w.sendWith(body, correlationID, nil)
}

// sendWith sends as send does, with changes to the input (a delay, other
// attributes), and returns the message ID.
func (w *world) sendWith(body, correlationID string, change func(*sqs.SendMessageInput)) string {
	w.t.Helper()
	in := &sqs.SendMessageInput{QueueUrl: aws.String(w.queueURL), MessageBody: aws.String(body), MessageAttributes: map[string]sqstypes.MessageAttributeValue{}}
	if correlationID != "" {
		in.MessageAttributes["correlation_id"] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(correlationID)}
	}
	if strings.HasSuffix(w.queueName, ".fifo") {
		in.MessageGroupId, in.MessageDeduplicationId = aws.String("raw"), aws.String(correlationID)
	}
	if change != nil {
		change(in)
	}
	out, err := w.sqs.SendMessage(w.t.Context(), in)
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.MessageId)
}

func request(id, app string, build int, mode string) string {
	r := events.Request{Schema: events.RequestSchema, RequestID: id, App: app, Env: "prod", Build: build, Mode: mode, RequestedBy: "e2e"}
	b, _ := json.Marshal(r)
	return string(b)
}

// eventLog collects every event published, in arrival order.
type eventLog struct {
	mu     sync.Mutex
	events []events.Event
	cond   chan struct{}
}

func newEventLog(t *testing.T, f *eventbus.Follower) *eventLog {
	l := &eventLog{cond: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			e, err := f.Next(ctx)
			if err != nil {
				return
			}
			l.mu.Lock()
			l.events = append(l.events, e)
			l.mu.Unlock()
			select {
			case l.cond <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = f.Close(context.Background())
	})
	return l
}

func (l *eventLog) all() []events.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]events.Event(nil), l.events...)
}

// waitFor waits until an event matching match arrives, and returns it.
func (l *eventLog) waitFor(t *testing.T, timeout time.Duration, what string, match func(events.Event) bool) events.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		for _, e := range l.all() {
			if match(e) {
				return e
			}
		}
		select {
		case <-l.cond:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %s within %v; events: %s", what, timeout, summary(l.all()))
		}
	}
}

func (l *eventLog) count(match func(events.Event) bool) int {
	n := 0
	for _, e := range l.all() {
		if match(e) {
			n++
		}
	}
	return n
}

func summary(es []events.Event) string {
	var parts []string
	for _, e := range es {
		s := fmt.Sprintf("%s/%s", e.DeployID, e.Type)
		if e.Step > 0 {
			s += fmt.Sprintf("(%d)", e.Step)
		}
		if e.Error != "" {
			s += ": " + e.Error
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "\n  ")
}

func is(id string, t events.Type) func(events.Event) bool {
	return func(e events.Event) bool { return e.DeployID == id && e.Type == t }
}

// waitForMessages waits up to 30 seconds for a queue to hold want messages
// and returns how many it holds.
func (w *world) waitForMessages(t *testing.T, queueURL string, want int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := w.sqs.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
				sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Fatal(err)
		}
		n := atoi(out.Attributes["ApproximateNumberOfMessages"]) + atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// proxy puts a proxy in front of an endpoint that injects in's failures
// and, when rw is set, rewrites answers with it.
func proxy(t *testing.T, endpoint string, in *faults.Injector, rw faults.Rewriter) string {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = faults.NewProxy(u, in)
	if rw != nil {
		h = faults.NewRewritingProxy(u, in, rw)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
