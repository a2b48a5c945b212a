package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"ecs-deploy/events"
	"ecs-deploy/internal/faults"
)

// primaryExternalID returns the externalId of the app's PRIMARY task set.
func (w *world) primaryExternalID(app string) string {
	w.t.Helper()
	for _, ts := range w.sim.TaskSets(w.seeded[app].Cluster, w.seeded[app].Service) {
		if ts.Status == "PRIMARY" {
			return ts.ExternalID
		}
	}
	return ""
}

func TestEndToEndDeploy(t *testing.T) {
	// A pre-deploy command that prints its environment, credentials included.
	w := newWorld(t, worldOptions{appFields: map[string]any{
		"PreDeployCommandTemplates": []any{map[string]any{"Program": "env"}},
	}})
	d := w.startDaemon("daemon-a")
	code, out := w.enqueue("-app", "shop", "-env", "prod", "-build", "2", "-config", w.dir+"/deploy-config.json",
		"-config-sha", "0000000000000000000000000000000000000000000000000000000000000000", "-wait")
	// The daemon runs its own file config: a config SHA naming another
	// version is refused, with the reason.
	if code != 3 || !strings.Contains(out, "deploy.rejected") || !strings.Contains(out, "config_sha") {
		t.Fatalf("enqueue with a wrong config SHA: exit %d\n%s", code, out)
	}
	code, out = w.enqueue("-app", "shop", "-env", "prod", "-build", "2", "-plan", "-wait")
	if code != 0 || !strings.Contains(out, "Plan: deploy build 2 (shop:build-2)") || !strings.Contains(out, "blue serves now") {
		t.Fatalf("enqueue -plan: exit %d\n%s", code, out)
	}
	// One AWS call in ten is throttled from here on: the SDK retries them.
	if err := w.sim.Faults().Add(faults.Rule{ThrottleRate: 0.1}); err != nil {
		t.Fatal(err)
	}
	code, out = w.enqueue("-app", "shop", "-env", "prod", "-build", "2", "-wait", "-request-id", "e2e-1")
	if code != 0 {
		t.Fatalf("enqueue -wait exit %d:\n%s", code, out)
	}
	for _, want := range []string{"request e2e-1", "deploy.started", "step 7 wait for steady state: succeeded", "deploy.succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("enqueue output lacks %q:\n%s", want, out)
		}
	}
	// A queue subscribed to the topic saw the whole deploy.
	w.events.waitFor(t, 10*time.Second, "deploy.succeeded", is("e2e-1", events.DeploySucceeded))
	var steps []int
	for _, e := range w.events.all() {
		if e.DeployID == "e2e-1" && e.Type == events.StepSucceeded {
			steps = append(steps, e.Step)
		}
	}
	if len(steps) != 11 || steps[0] != 2 || steps[10] != 12 {
		t.Fatalf("step.succeeded for steps %v, want 2 to 12", steps)
	}
	if w.events.count(is("e2e-1", events.DeployStarted)) != 1 {
		t.Fatalf("deploy.started %d times", w.events.count(is("e2e-1", events.DeployStarted)))
	}
	if got := w.primaryExternalID("shop"); got != "e2e-1" {
		t.Fatalf("PRIMARY task set belongs to %q", got)
	}
	if d := w.sim.Downtime(); len(d) != 0 {
		t.Fatalf("downtime: %+v", d)
	}
	if w.sim.Faults().Injected()[faults.Throttle] == 0 {
		t.Fatal("no call was throttled")
	}
	checkDeployLog(t, d.log, "e2e-1")
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready",
		"/metrics": `ecs_deploy_requests_total{outcome="deploy.succeeded"} 1`} {
		resp, err := http.Get("http://" + d.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, want %q in:\n%s", path, resp.StatusCode, want, body)
		}
	}
}

// slowVerify makes step 8 take a few seconds, so what a test does to a
// daemon when that step starts lands mid-deploy.
var slowVerify = worldOptions{appFields: map[string]any{
	"VerifyCommandTemplates": []any{map[string]any{"Program": "sleep", "Arguments": []string{"3"}}},
}}

// waitForStep waits until the deploy's step has started.
func (w *world) waitForStep(t *testing.T, id string, step int) {
	t.Helper()
	w.events.waitFor(t, 30*time.Second, fmt.Sprintf("step %d of %s", step, id), func(e events.Event) bool {
		return e.DeployID == id && e.Type == events.StepStarted && e.Step == step
	})
}

func TestTakeoverAfterKill(t *testing.T) {
	w := newWorld(t, slowVerify)
	a := w.startDaemon("daemon-a")
	// No correlation_id: the message ID is used, the same after the
	// takeover.
	msgID := w.send(request("take-1", "shop", 3, ""), "")
	w.waitForStep(t, "take-1", 8)
	a.kill()
	w.startDaemon("daemon-b")
	w.events.waitFor(t, 60*time.Second, "deploy.succeeded", is("take-1", events.DeploySucceeded))
	time.Sleep(3 * time.Second) // anything else would have arrived by now
	if n := w.events.count(is("take-1", events.DeploySucceeded)); n != 1 {
		t.Fatalf("deploy.succeeded published %d times", n)
	}
	if got := w.primaryExternalID("shop"); got != "take-1" {
		t.Fatalf("PRIMARY task set belongs to %q", got)
	}
	if n := w.sim.CallCounts()["CreateTaskSet"]; n != 1 {
		t.Fatalf("CreateTaskSet called %d times: the takeover must reuse the task set", n)
	}
	for _, e := range w.events.all() {
		if e.DeployID == "take-1" && e.CorrelationID != msgID {
			t.Fatalf("%s with correlation ID %q, want the message ID %s throughout", e.Type, e.CorrelationID, msgID)
		}
	}
	if d := w.sim.Downtime(); len(d) != 0 {
		t.Fatalf("downtime: %+v", d)
	}
}

func TestDuplicateRequest(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.startDaemon("daemon-a")
	for range 3 {
		w.send(request("dup-1", "shop", 2, ""), "corr-dup")
	}
	w.events.waitFor(t, 30*time.Second, "deploy.succeeded", is("dup-1", events.DeploySucceeded))
	// Every copy is answered (the first with the deploy, the others with its
	// outcome again) and the queue drains.
	deadline := time.Now().Add(30 * time.Second)
	for w.events.count(is("dup-1", events.DeploySucceeded)) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d answers: %s", w.events.count(is("dup-1", events.DeploySucceeded)), summary(w.events.all()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := w.events.count(is("dup-1", events.DeployStarted)); n != 1 {
		t.Fatalf("deploy.started %d times", n)
	}
	if n := w.sim.CallCounts()["CreateTaskSet"]; n != 1 {
		t.Fatalf("CreateTaskSet called %d times", n)
	}
}

func TestRejectsBadRequests(t *testing.T) {
	// The CI role relays who asks: only requests by e2e are allowed.
	w := newWorld(t, worldOptions{policy: `{"rules":[{"senders":["` + ciRole + `"],"requested_by":["e2e"],"apps":["shop"],"envs":["prod"]}]}`})
	w.startDaemon("daemon-a")
	good := request("ok-1", "shop", 2, "")
	// Each bad variant has its own request ID.
	bad := func(id string) string { return request(id, "shop", 2, "") }
	cases := []struct{ name, body, reason string }{
		{"not JSON", "deploy shop please", "not valid JSON"},
		{"unknown field", strings.Replace(bad("b-field"), `"app"`, `"colour":"red","app"`, 1), `unknown field "colour"`},
		{"missing app", strings.Replace(bad("b-app"), `"app":"shop",`, ``, 1), `app ""`},
		{"unknown env", strings.Replace(request("bad-env", "shop", 2, ""), `"prod"`, `"staging"`, 1), "not allowed"},
		{"oversize", `{"reason":"` + strings.Repeat("x", 70000) + `"}`, "more than the"},
		{"wrong schema", strings.Replace(request("bad-schema", "shop", 2, ""), "request/v1", "request/v0", 1), "schema"},
		{"unauthorised sender", strings.Replace(request("bad-who", "shop", 2, ""), `"e2e"`, `"mallory"`, 1), "not allowed"},
		{"unknown artifact", request("bad-art", "shop", 99, ""), "artifact not found"},
		{"bad mode", strings.Replace(bad("b-mode"), `"requested_by"`, `"mode":"yolo","requested_by"`, 1), `mode "yolo"`},
		{"two artifacts", strings.Replace(bad("b-two"), `"build":2`, `"build":2,"sha":"abc1"`, 1), "not both"},
		{"config inside the request", strings.Replace(bad("b-inline"), `"requested_by"`, `"config":{},"requested_by"`, 1), "configs inside requests"},
		{"wrong config version", strings.Replace(request("bad-cfg", "shop", 2, ""), `"requested_by"`, `"config_sha":"abcdef12","requested_by"`, 1), "config_sha"},
		{"nothing to resume", request("bad-resume", "shop", 0, "resume"), "nothing to resume"},
	}
	for i, c := range cases {
		w.send(c.body, "corr-bad-"+string(rune('a'+i)))
	}
	for i, c := range cases {
		corr := "corr-bad-" + string(rune('a'+i))
		e := w.events.waitFor(t, 30*time.Second, c.name+" rejected", func(e events.Event) bool {
			return e.CorrelationID == corr && e.Type == events.DeployRejected
		})
		if !strings.Contains(e.Error, c.reason) {
			t.Errorf("%s: rejected with %q, want it to say %q", c.name, e.Error, c.reason)
		}
	}
	// Every one of them is kept in the dead-letter queue, with its reason.
	dlq, err := w.sqs.GetQueueUrl(t.Context(), &sqs.GetQueueUrlInput{QueueName: aws.String("deploy-requests-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	if n := w.waitForMessages(t, aws.ToString(dlq.QueueUrl), len(cases)); n != len(cases) {
		t.Fatalf("%d of %d bad requests in the dead-letter queue", n, len(cases))
	}
	out, err := w.sqs.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: dlq.QueueUrl, MaxNumberOfMessages: 10,
		MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) == 0 {
		t.Fatal("could not receive from the dead-letter queue")
	}
	for _, m := range out.Messages {
		if a, ok := m.MessageAttributes["reason_poisoned"]; !ok || aws.ToString(a.StringValue) == "" {
			t.Errorf("dead letter without a reason: %.80s", aws.ToString(m.Body))
		}
	}
	// The daemon still serves, and a request it once rejected can be sent
	// again, fixed, under the same ID.
	w.send(strings.Replace(request("bad-who", "shop", 2, ""), `"e2e"`, `"e2e"`, 1), "corr-fixed")
	w.events.waitFor(t, 30*time.Second, "the fixed request", is("bad-who", events.DeploySucceeded))
	w.send(good, "corr-good")
	w.events.waitFor(t, 30*time.Second, "the good deploy", is("ok-1", events.DeploySucceeded))
}

// TestOrderPerAppAndEnv: two requests for shop/prod run in the order they
// were sent, though the first is delivered a second after the second (a
// per-message delay, as a standard queue may deliver out of order), and on
// two daemons; api/prod runs beside them.
func TestOrderPerAppAndEnv(t *testing.T) {
	w := newWorld(t, worldOptions{apps: []string{"shop", "api"}, appFields: map[string]any{
		"PreDeployCommandTemplates": []any{map[string]any{"Program": "sleep", "Arguments": []string{"1"}}},
	}})
	w.startDaemon("daemon-a", "-order-window", "3s")
	w.startDaemon("daemon-b", "-order-window", "3s")
	w.sendWith(request("shop-1", "shop", 2, ""), "c1", func(in *sqs.SendMessageInput) { in.DelaySeconds = 1 })
	w.send(request("api-1", "api", 2, ""), "c2")
	w.send(request("shop-2", "shop", 3, "start-over"), "c3")
	for _, id := range []string{"shop-1", "api-1", "shop-2"} {
		w.events.waitFor(t, 90*time.Second, id+" succeeded", is(id, events.DeploySucceeded))
	}
	s1, e1 := span(w, "shop-1")
	s2, e2 := span(w, "shop-2")
	a1, b1 := span(w, "api-1")
	if !e1.Before(s2) {
		t.Fatalf("shop-2 (sent second) started at %v, before shop-1 (sent first) ended at %v; shop-1 started at %v, shop-2 ended at %v", s2, e1, s1, e2)
	}
	if !(a1.Before(e1) && s1.Before(b1)) && !(a1.Before(e2) && s2.Before(b1)) {
		t.Fatalf("api ran apart from shop: api %v-%v, shop %v-%v and %v-%v", a1, b1, s1, e1, s2, e2)
	}
	q := w.events.waitFor(t, time.Second, "shop-2 queued", is("shop-2", events.DeployQueued))
	if !strings.Contains(q.Message, "shop-1") {
		t.Fatalf("shop-2 queued behind %q, want shop-1", q.Message)
	}
}

// TestShutdownMidDeploy sends SIGTERM during a deploy: the daemon stops at a
// safe point and exits, the message comes back, and another daemon finishes
// the deploy.
func TestShutdownMidDeploy(t *testing.T) {
	w := newWorld(t, slowVerify)
	a := w.startDaemon("daemon-a")
	w.send(request("term-1", "shop", 4, ""), "corr-term")
	w.waitForStep(t, "term-1", 8)
	a.stop(t) // fails the test if the daemon does not exit by itself
	if a.cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("daemon exited with %d after SIGTERM", a.cmd.ProcessState.ExitCode())
	}
	if n := w.events.count(is("term-1", events.DeploySucceeded)) + w.events.count(is("term-1", events.DeployFailed)); n != 0 {
		t.Fatalf("the interrupted deploy ended (%d final events) instead of stopping", n)
	}
	w.startDaemon("daemon-b")
	w.events.waitFor(t, 60*time.Second, "deploy.succeeded", is("term-1", events.DeploySucceeded))
	if got := w.primaryExternalID("shop"); got != "term-1" {
		t.Fatalf("PRIMARY task set belongs to %q", got)
	}
	if d := w.sim.Downtime(); len(d) != 0 {
		t.Fatalf("downtime: %+v", d)
	}
}

// checkDeployLog reads a daemon's JSON log: every line about the deploy
// names its app, env and correlation ID, and no secret is in it.
func checkDeployLog(t *testing.T, path, deployID string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secretKey) {
		t.Fatal("the AWS secret key reached the daemon's log")
	}
	if !strings.Contains(string(b), "AWS_SECRET_ACCESS_KEY=[redacted]") {
		t.Fatal("the env command's output is not in the log")
	}
	lines := 0
	for _, line := range strings.Split(string(b), "\n") {
		var fields map[string]any
		if json.Unmarshal([]byte(line), &fields) != nil || fields["deploy_id"] != deployID {
			continue
		}
		lines++
		if fields["app"] != "shop" || fields["env"] != "prod" || fields["correlation_id"] == nil || fields["correlation_id"] == "" {
			t.Fatalf("log line without app, env or correlation_id: %s", line)
		}
	}
	if lines < 20 {
		t.Fatalf("only %d log lines name deploy %s", lines, deployID)
	}
}

// TestFIFOQueue runs the daemon on a FIFO queue: enqueue makes app/env the
// message group, so requests for one app and env are handed out one at a
// time, in order, while another app's run beside them; a rejected request
// still reaches the (FIFO) dead-letter queue.
func TestFIFOQueue(t *testing.T) {
	w := newWorld(t, worldOptions{queue: "deploy-requests.fifo", apps: []string{"shop", "api"}, appFields: map[string]any{
		"PreDeployCommandTemplates": []any{map[string]any{"Program": "sleep", "Arguments": []string{"1"}}},
	}})
	w.startDaemon("daemon-a")
	w.startDaemon("daemon-b")
	for _, r := range []struct {
		id, app string
		build   int
		mode    string
	}{{"f-shop-1", "shop", 2, ""}, {"f-shop-2", "shop", 3, "-start-over"}, {"f-api-1", "api", 2, ""}} {
		args := []string{"-app", r.app, "-env", "prod", "-build", fmt.Sprint(r.build), "-request-id", r.id}
		if r.mode != "" {
			args = append(args, r.mode)
		}
		if code, out := w.enqueue(args...); code != 0 {
			t.Fatalf("enqueue %s: %d\n%s", r.id, code, out)
		}
	}
	for _, id := range []string{"f-shop-1", "f-shop-2", "f-api-1"} {
		w.events.waitFor(t, 90*time.Second, id+" succeeded", is(id, events.DeploySucceeded))
	}
	var order []string
	for _, e := range w.events.all() {
		if e.Type == events.DeployStarted && strings.HasPrefix(e.DeployID, "f-shop") {
			order = append(order, e.DeployID)
		}
	}
	if len(order) != 2 || order[0] != "f-shop-1" {
		t.Fatalf("shop deploys started in the order %v", order)
	}
	// goaws forgets a message group's lock when it locks another group
	// (models.Queue.LockGroup replaces the map), so f-shop-2 may be
	// received while f-shop-1 runs, as SQS would not; it then waits its turn
	// in the line. Either way the two never overlap.
	s1, e1 := span(w, "f-shop-1")
	s2, _ := span(w, "f-shop-2")
	if s2.Before(e1) || s2.Before(s1) {
		t.Fatalf("f-shop-2 started at %v, before f-shop-1 (%v to %v) ended", s2, s1, e1)
	}
	if got := w.primaryExternalID("shop"); got != "f-shop-2" {
		t.Fatalf("shop's PRIMARY belongs to %q", got)
	}
	w.send("not a request", "corr-fifo-bad")
	w.events.waitFor(t, 30*time.Second, "the rejection", func(e events.Event) bool {
		return e.CorrelationID == "corr-fifo-bad" && e.Type == events.DeployRejected
	})
	dlq, err := w.sqs.GetQueueUrl(t.Context(), &sqs.GetQueueUrlInput{QueueName: aws.String("deploy-requests-dlq.fifo")})
	if err != nil {
		t.Fatal(err)
	}
	if n := w.waitForMessages(t, aws.ToString(dlq.QueueUrl), 1); n != 1 {
		t.Fatalf("%d messages in the FIFO dead-letter queue, want the rejected one", n)
	}
}

// TestThrottledQueuesAndTables throttles one call in seven between the
// daemons and SQS, SNS and DynamoDB: the deploys still happen, once each.
// The lease is longer than the other tests' 2 s: a heartbeat retried with
// the SDK's backoff under such throttling can take longer than that, and
// a holder then rightly gives its lock up.
func TestThrottledQueuesAndTables(t *testing.T) {
	w := newWorld(t, worldOptions{apps: []string{"shop", "api"}, flaky: &faults.Rule{ThrottleRate: 0.15}})
	lease := []string{"-lock-lease", "6s", "-lock-heartbeat", "500ms"}
	w.startDaemon("daemon-a", lease...)
	w.startDaemon("daemon-b", lease...)
	w.send(request("thr-1", "shop", 2, ""), "c-thr-1")
	w.send(request("thr-2", "api", 2, ""), "c-thr-2")
	for _, id := range []string{"thr-1", "thr-2"} {
		w.events.waitFor(t, 90*time.Second, id+" succeeded", is(id, events.DeploySucceeded))
		// Only final events are kept until SNS takes them; a progress
		// event may be lost to throttling. None may say it ran twice.
		if n := w.events.count(is(id, events.DeployStarted)); n > 1 {
			t.Fatalf("%s started %d times", id, n)
		}
	}
	if got := w.primaryExternalID("api"); got != "thr-2" {
		t.Fatalf("api's PRIMARY belongs to %q", got)
	}
}

// span is when a deploy started and when it succeeded.
func span(w *world, id string) (start, end time.Time) {
	for _, e := range w.events.all() {
		if e.DeployID == id && e.Type == events.DeployStarted && start.IsZero() {
			start = e.Time
		}
		if e.DeployID == id && e.Type == events.DeploySucceeded {
			end = e.Time
		}
	}
	return start, end
}
