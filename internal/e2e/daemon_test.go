package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"ecs-deploy/events"
	"ecs-deploy/internal/faults"
	"ecs-deploy/internal/records"
	"ecs-deploy/internal/sqsx"
)

// The tests of the daemon's message handling (issue 9): nothing lost,
// nobody unauthorised, easy for CI and chat-ops bots.

// records reads the request records the daemons write.
func (w *world) records() records.Store {
	db := dynamodb.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""),
		BaseEndpoint: aws.String(w.dynamo)})
	return records.Store{DB: db, Table: "DeployRequests"}
}

// waitForRecord waits until the request's record satisfies ok.
func (w *world) waitForRecord(t *testing.T, id string, timeout time.Duration, ok func(records.Record) bool) records.Record {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, found, err := w.records().Get(t.Context(), id)
		if err == nil && found && ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("record of %s not as wanted within %v: %+v (found %v, %v)", id, timeout, r, found, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (w *world) deadLetterURL(t *testing.T) string {
	t.Helper()
	name, _ := sqsx.DeadLetterName(w.queueName)
	out, err := w.sqs.GetQueueUrl(t.Context(), &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.QueueUrl)
}

// deadLetters receives what the dead-letter queue holds (up to ten).
func (w *world) deadLetters(t *testing.T) []sqstypes.Message {
	t.Helper()
	out, err := w.sqs.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.deadLetterURL(t)), MaxNumberOfMessages: 10,
		MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	return out.Messages
}

// queueDepth is how many messages a queue holds, visible or not.
func (w *world) queueDepth(t *testing.T, url string) int {
	t.Helper()
	out, err := w.sqs.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	return atoi(out.Attributes["ApproximateNumberOfMessages"]) + atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
}

// sh is a command running a shell script, as a deploy config names it.
func sh(script string) map[string]any {
	return map[string]any{"Program": "sh", "Arguments": []string{"-c", script}}
}

// TestQueuedRequestNeverDeadLettered: a deploy holds the lock for longer
// than ten visibility timeouts (the redrive policy's maxReceiveCount); two
// requests wait behind it, received once each, and run afterwards in the
// order they were sent, though the first sent arrived second. Nothing
// reaches the dead-letter queue.
func TestQueuedRequestNeverDeadLettered(t *testing.T) {
	w := newWorld(t, worldOptions{visibility: 3 * time.Second})
	hold := filepath.Join(w.dir, "held")
	w.writeConfig(map[string]any{"PreDeployCommandTemplates": []any{sh("test -e " + hold + " || { touch " + hold + "; sleep 35; }")}})
	w.startDaemon("daemon-a")
	w.startDaemon("daemon-b")
	w.send(request("hold-1", "shop", 2, ""), "c-hold")
	w.waitForStep(t, "hold-1", 2)
	w.sendWith(request("q-first", "shop", 3, ""), "c-first", func(in *sqs.SendMessageInput) { in.DelaySeconds = 2 })
	w.send(request("q-second", "shop", 4, ""), "c-second")
	w.events.waitFor(t, 120*time.Second, "q-second succeeded", is("q-second", events.DeploySucceeded))
	_, holdEnd := span(w, "hold-1")
	firstStart, firstEnd := span(w, "q-first")
	secondStart, _ := span(w, "q-second")
	if holdEnd.IsZero() || firstStart.Before(holdEnd) || secondStart.Before(firstEnd) {
		t.Fatalf("order: hold-1 ended %v, q-first ran %v to %v, q-second started %v", holdEnd, firstStart, firstEnd, secondStart)
	}
	for _, id := range []string{"q-first", "q-second"} {
		if n := w.events.count(is(id, events.DeployQueued)); n != 1 {
			t.Errorf("%s: deploy.queued %d times, want once", id, n)
		}
		if r, _, _ := w.records().Get(t.Context(), id); r.State != string(events.DeploySucceeded) {
			t.Errorf("%s's record: %+v", id, r)
		}
	}
	if n := w.queueDepth(t, w.deadLetterURL(t)); n != 0 {
		t.Fatalf("%d messages in the dead-letter queue", n)
	}
	if got := w.primaryExternalID("shop"); got != "q-second" {
		t.Fatalf("PRIMARY task set belongs to %q", got)
	}
}

// TestMaxQueueWait: a request that waits longer than -max-queue-wait is
// rejected with the reason, and kept in the dead-letter queue.
func TestMaxQueueWait(t *testing.T) {
	w := newWorld(t, worldOptions{appFields: map[string]any{"PreDeployCommandTemplates": []any{sh("sleep 12")}}})
	w.startDaemon("daemon-a", "-max-queue-wait", "3s")
	w.send(request("long-1", "shop", 2, ""), "c-long")
	w.waitForStep(t, "long-1", 2)
	w.send(request("impatient", "shop", 3, ""), "c-impatient")
	e := w.events.waitFor(t, 30*time.Second, "the rejection", is("impatient", events.DeployRejected))
	if !strings.Contains(e.Error, "longer than -max-queue-wait 3s") {
		t.Fatalf("rejected with %q", e.Error)
	}
	if n := w.waitForMessages(t, w.deadLetterURL(t), 1); n != 1 {
		t.Fatalf("%d messages in the dead-letter queue", n)
	}
	w.waitForRecord(t, "impatient", 5*time.Second, records.Record.Rejected)
	w.events.waitFor(t, 60*time.Second, "long-1 succeeded", is("long-1", events.DeploySucceeded))
}

// TestUnmergedConfigCommitRefused: a config commit pushed on a branch but
// not merged into -config-branch is refused; merged commits deploy;
// -config-allow-any-commit turns the check off.
func TestUnmergedConfigCommitRefused(t *testing.T) {
	w := newWorld(t, worldOptions{configRepo: true})
	origin := filepath.Join(w.dir, "config-origin")
	main := w.git(origin, "rev-parse", "HEAD")
	w.git(origin, "checkout", "-q", "-b", "unreviewed")
	b, _ := os.ReadFile(filepath.Join(origin, "deploy-config.json"))
	unmerged := w.commitConfig(strings.Replace(string(b), `"Memory": "512"`, `"Memory": "1024"`, 1))
	a := w.startDaemon("daemon-a")
	code, out := w.enqueue("-app", "shop", "-env", "prod", "-build", "2", "-config-sha", unmerged, "-wait", "-request-id", "unmerged-1")
	if code != 3 || !strings.Contains(out, "commit "+unmerged[:7]+" is not on branch main") {
		t.Fatalf("unmerged config: exit %d\n%s", code, out)
	}
	if code, out := w.enqueue("-app", "shop", "-env", "prod", "-build", "2", "-config-sha", main, "-wait", "-request-id", "merged-1"); code != 0 {
		t.Fatalf("merged config: exit %d\n%s", code, out)
	}
	a.stop(t)
	w.startDaemon("daemon-any", "-config-allow-any-commit")
	code, out = w.enqueue("-app", "shop", "-env", "prod", "-build", "3", "-config-sha", unmerged, "-wait", "-request-id", "unmerged-2")
	if strings.Contains(out, "not on branch") {
		t.Fatalf("-config-allow-any-commit refused it: exit %d\n%s", code, out)
	}
}

// TestSpoofedSessionNameRefused: the policy allows the CI role by its
// unique ID. Mallory assumes her own role with a session named after the CI
// role, and also sets the daemon's sqs_sender_id attribute: refused. The
// CI role itself deploys.
func TestSpoofedSessionNameRefused(t *testing.T) {
	w := newWorld(t, worldOptions{policy: `{"rules":[{"senders":["` + ciRole + `"],"apps":["shop"],"envs":["prod"]}]}`})
	w.startDaemon("daemon-a")
	mallory := sqs.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(malloryKey, "secret", ""),
		BaseEndpoint: aws.String(w.testGoaws)})
	_, err := mallory.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(w.queueURL), MessageBody: aws.String(request("spoof-1", "shop", 2, "")),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"correlation_id": {DataType: aws.String("String"), StringValue: aws.String("c-spoof")},
			"sqs_sender_id":  {DataType: aws.String("String"), StringValue: aws.String(ciRole + ":e2e")},
		}})
	if err != nil {
		t.Fatal(err)
	}
	e := w.events.waitFor(t, 30*time.Second, "the rejection", is("spoof-1", events.DeployRejected))
	if !strings.Contains(e.Error, "sender "+malloryRole) || !strings.Contains(e.Error, "not allowed") {
		t.Fatalf("rejected with %q", e.Error)
	}
	w.send(request("ci-1", "shop", 2, ""), "c-ci")
	w.events.waitFor(t, 30*time.Second, "the CI deploy", is("ci-1", events.DeploySucceeded))
	if w.sim.CallCounts()["CreateTaskSet"] != 1 {
		t.Fatal("the spoofed request reached ECS")
	}
}

// TestDeadLetterAttributeLimit: a bad request carrying ten attributes (the
// most SQS takes) lands in the dead-letter queue with at most ten, its
// reason and correlation ID first, the sender's own attributes folded into
// one, and a sender's attribute under the daemon's own name dropped.
func TestDeadLetterAttributeLimit(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.startDaemon("daemon-a")
	w.sendWith("deploy shop please", "c-attrs", func(in *sqs.SendMessageInput) {
		for _, k := range []string{"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"} {
			in.MessageAttributes[k] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("value of " + k)}
		}
		in.MessageAttributes["reason_poisoned"] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("all fine")}
	})
	w.events.waitFor(t, 30*time.Second, "the rejection", func(e events.Event) bool {
		return e.CorrelationID == "c-attrs" && e.Type == events.DeployRejected
	})
	if n := w.waitForMessages(t, w.deadLetterURL(t), 1); n != 1 {
		t.Fatalf("%d messages in the dead-letter queue, want the rejected one", n)
	}
	msgs := w.deadLetters(t)
	if len(msgs) != 1 {
		t.Fatalf("received %d dead letters", len(msgs))
	}
	attrs := msgs[0].MessageAttributes
	val := func(k string) string { return aws.ToString(attrs[k].StringValue) }
	if len(attrs) > 10 || !strings.Contains(val("reason_poisoned"), "not valid JSON") || val("correlation_id") != "c-attrs" ||
		val("original_sender_id") != ciRole+":e2e" || aws.ToString(msgs[0].Body) != "deploy shop please" {
		t.Fatalf("dead letter: %d attributes %v, body %q", len(attrs), attrs, aws.ToString(msgs[0].Body))
	}
	var extras map[string]string
	if err := json.Unmarshal([]byte(val("sender_attributes")), &extras); err != nil || len(extras) != 8 || extras["x7"] != "value of x7" {
		t.Fatalf("sender_attributes %q: %v", val("sender_attributes"), err)
	}
}

// TestRequestIDReusedForOtherRequest: the same request ID with another
// body is refused in words, and what the first request deployed stays.
func TestRequestIDReusedForOtherRequest(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.startDaemon("daemon-a")
	if code, out := w.enqueue("-app", "shop", "-env", "prod", "-build", "4", "-request-id", "ci-1234", "-wait"); code != 0 {
		t.Fatalf("first: exit %d\n%s", code, out)
	}
	code, out := w.enqueue("-app", "shop", "-env", "prod", "-build", "5", "-request-id", "ci-1234", "-wait")
	if code != 3 || !strings.Contains(out, "request_id ci-1234 was used for a different request (build 4, not 5)") {
		t.Fatalf("reused ID: exit %d\n%s", code, out)
	}
	// The same request again is a duplicate: its outcome is told again.
	if code, out := w.enqueue("-app", "shop", "-env", "prod", "-build", "4", "-request-id", "ci-1234", "-wait"); code != 0 || !strings.Contains(out, "deploy.succeeded") {
		t.Fatalf("duplicate: exit %d\n%s", code, out)
	}
	r, _, _ := w.records().Get(t.Context(), "ci-1234")
	if r.State != string(events.DeploySucceeded) || r.Request == nil || r.Request.Build != 4 || r.Rejection == nil {
		t.Fatalf("record: %+v", r)
	}
	if n := w.sim.CallCounts()["CreateTaskSet"]; n != 1 {
		t.Fatalf("CreateTaskSet called %d times", n)
	}
}

// TestFinalEventSurvivesSNSOutage: SNS refuses every publish when the
// deploy ends. The record keeps the final event as unpublished; once SNS
// takes messages again, the sweep publishes it, under the event ID the
// record holds.
func TestFinalEventSurvivesSNSOutage(t *testing.T) {
	w := newWorld(t, slowVerify)
	w.startDaemon("daemon-a")
	w.send(request("outage-1", "shop", 3, ""), "c-outage")
	w.waitForStep(t, "outage-1", 8)
	if err := w.daemonFaults.Add(faults.Rule{Operation: "Publish", ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	r := w.waitForRecord(t, "outage-1", 60*time.Second, func(r records.Record) bool { return r.Done() })
	if r.State != string(events.DeploySucceeded) || !r.Unpublished || r.Final.EventID == "" {
		t.Fatalf("record during the outage: %+v", r)
	}
	time.Sleep(2 * time.Second) // sweeps that SNS refuses
	if n := w.events.count(is("outage-1", events.DeploySucceeded)); n != 0 {
		t.Fatalf("deploy.succeeded arrived during the outage (%d)", n)
	}
	w.daemonFaults.Clear()
	e := w.events.waitFor(t, 30*time.Second, "deploy.succeeded after the outage", is("outage-1", events.DeploySucceeded))
	if e.EventID != r.Final.EventID {
		t.Fatalf("event ID %q, the record's %q", e.EventID, r.Final.EventID)
	}
	w.waitForRecord(t, "outage-1", 10*time.Second, func(r records.Record) bool { return !r.Unpublished })
}

// TestChatOpsMinimalRequest: a bot sends app, env, sha and requested_by,
// nothing else, with the AWS SDK: it deploys, under the message's ID,
// which is also its correlation ID.
func TestChatOpsMinimalRequest(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.startDaemon("daemon-a")
	out, err := w.sqs.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(w.queueURL),
		MessageBody: aws.String(`{"app":"shop","env":"prod","sha":"abc2","requested_by":"alice"}`)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.MessageId)
	e := w.events.waitFor(t, 30*time.Second, "the deploy", is(id, events.DeploySucceeded))
	if e.CorrelationID != id || e.RequestedBy != "alice" || e.Project != "shop" {
		t.Fatalf("event: %+v", e)
	}
	for _, e := range w.events.all() {
		if e.DeployID == id && e.CorrelationID != id {
			t.Fatalf("event with correlation %q: %+v", e.CorrelationID, e)
		}
	}
}

// TestAbortRunningDeploy: `enqueue -abort` stops a deploy in its verify
// step at once, not after it; what served before still serves; the next
// deploy needs no resume.
func TestAbortRunningDeploy(t *testing.T) {
	w := newWorld(t, worldOptions{appFields: map[string]any{
		"VerifyCommandTemplates": []any{map[string]any{"Program": "sleep", "Arguments": []string{"{{if eq .Artifact.BuildNumber 3}}60{{else}}0{{end}}"}}},
	}})
	w.startDaemon("daemon-a")
	before := w.primaryExternalID("shop")
	w.send(request("slow-1", "shop", 3, ""), "c-slow")
	w.waitForStep(t, "slow-1", 8)
	start := time.Now()
	code, out := w.enqueue("-app", "shop", "-env", "prod", "-abort", "-wait", "-request-id", "stop-1", "-reason", "verify hangs")
	if code != 0 || time.Since(start) > 30*time.Second {
		t.Fatalf("abort: exit %d after %v\n%s", code, time.Since(start), out)
	}
	f := w.events.waitFor(t, 10*time.Second, "slow-1 failed", is("slow-1", events.DeployFailed))
	if !strings.Contains(f.Error, "stopped for another request") {
		t.Fatalf("slow-1 failed with %q", f.Error)
	}
	if got := w.primaryExternalID("shop"); got != before {
		t.Fatalf("PRIMARY task set belongs to %q, was %q", got, before)
	}
	if d := w.sim.Downtime(); len(d) != 0 {
		t.Fatalf("downtime: %+v", d)
	}
	if r, _, _ := w.records().Get(t.Context(), "slow-1"); r.State != string(events.DeployFailed) {
		t.Fatalf("slow-1's record: %+v", r)
	}
	if code, out := w.enqueue("-app", "shop", "-env", "prod", "-build", "4", "-wait", "-request-id", "next-1"); code != 0 {
		t.Fatalf("the next deploy: exit %d\n%s", code, out)
	}
}

// holdTERM is a pre-deploy command that ignores SIGTERM and sleeps a
// minute the first time it runs.
func holdTERM(w *world) map[string]any {
	mark := filepath.Join(w.dir, "ran")
	return sh(`trap "" TERM; test -e ` + mark + ` && exit 0; touch ` + mark + `; sleep 60`)
}

// TestShutdownBudget: a pre-deploy command ignores SIGTERM. The daemon
// still exits within -shutdown-timeout, killing it, and another daemon
// resumes the deploy.
func TestShutdownBudget(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.writeConfig(map[string]any{"PreDeployCommandTemplates": []any{holdTERM(w)}})
	a := w.startDaemon("daemon-a", "-shutdown-timeout", "4s")
	w.send(request("budget-1", "shop", 2, ""), "c-budget")
	w.waitForStep(t, "budget-1", 2)
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	a.stop(t)
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("the daemon took %v to stop with a 4s budget", took)
	}
	w.startDaemon("daemon-b")
	w.events.waitFor(t, 60*time.Second, "budget-1 succeeded", is("budget-1", events.DeploySucceeded))
	if n := w.events.count(is("budget-1", events.DeployFailed)); n != 0 {
		t.Fatalf("the interrupted deploy failed %d times", n)
	}
}

// TestSecondSignalExitsAtOnce: during a shutdown that waits for a command,
// a second SIGTERM ends the daemon at once.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.writeConfig(map[string]any{"PreDeployCommandTemplates": []any{holdTERM(w)}})
	a := w.startDaemon("daemon-a", "-shutdown-timeout", "60s")
	w.send(request("twice-1", "shop", 2, ""), "c-twice")
	w.waitForStep(t, "twice-1", 2)
	time.Sleep(500 * time.Millisecond)
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		t.Fatal("the daemon exited without waiting for the command")
	case <-time.After(2 * time.Second):
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(3 * time.Second):
		t.Fatal("the daemon did not exit at the second signal")
	}
	if code := a.cmd.ProcessState.ExitCode(); code == 0 {
		t.Fatalf("exit code %d after a forced exit", code)
	}
}

// TestDrainAcksFinishedMessages: a request finishing while its daemon
// drains has its message acked: it does not come back, and nobody answers
// it twice. Here the duplicate of a finished deploy is being answered (SNS
// is slow) when SIGTERM comes.
func TestDrainAcksFinishedMessages(t *testing.T) {
	w := newWorld(t, worldOptions{})
	a := w.startDaemon("daemon-a")
	w.send(request("drain-1", "shop", 2, ""), "c-drain")
	w.events.waitFor(t, 30*time.Second, "drain-1 succeeded", is("drain-1", events.DeploySucceeded))
	if err := w.daemonFaults.Add(faults.Rule{Operation: "Publish", Latency: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	w.send(request("drain-1", "shop", 2, ""), "c-drain-again")
	time.Sleep(1500 * time.Millisecond) // received, and publishing its answer
	a.stop(t)
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	w.daemonFaults.Clear()
	w.startDaemon("daemon-b")
	time.Sleep(w.visibility + 3*time.Second) // a message left in flight would be back and answered by now
	if n := w.queueDepth(t, w.queueURL); n != 0 {
		t.Fatalf("%d messages still in the request queue", n)
	}
	if n := w.events.count(is("drain-1", events.DeploySucceeded)); n != 2 {
		t.Fatalf("deploy.succeeded %d times, want the deploy's and the duplicate's", n)
	}
}

// TestEnqueueWaitReadsTheRecord: -wait follows a subscription that sees
// none of the daemon's events (as a new subscription on AWS may, for
// minutes): the record still tells the outcome, success or rejection.
func TestEnqueueWaitReadsTheRecord(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.startDaemon("daemon-a")
	other, err := w.sns.CreateTopic(t.Context(), &sns.CreateTopicInput{Name: aws.String("silent")})
	if err != nil {
		t.Fatal(err)
	}
	code, out := w.enqueue("-app", "shop", "-env", "prod", "-build", "2", "-wait", "-topic-arn", aws.ToString(other.TopicArn))
	if code != 0 || !strings.Contains(out, "deploy.succeeded") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	code, out = w.enqueue("-app", "shop", "-env", "prod", "-build", "99", "-wait", "-topic-arn", aws.ToString(other.TopicArn))
	if code != 3 || !strings.Contains(out, "artifact not found") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}
