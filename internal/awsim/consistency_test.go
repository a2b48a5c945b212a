package awsim_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"ecs-deploy/internal/awsim"
)

// consistencyDelay is the longest a change stays hidden in these tests.
const consistencyDelay = 2 * time.Second

// seeds are the consistency seeds each test tries: enough that both a
// stale and a fresh first read occur.
const seeds = 16

func (b *bed) eventuallyConsistent(t *testing.T, seed uint64) {
	t.Helper()
	if err := b.sim.SetConsistency(awsim.Consistency{Delay: consistencyDelay, Seed: seed}); err != nil {
		t.Fatal(err)
	}
}

// describeTaskSet returns the task set with the ID as a read sees it, or nil
// and the failures when the read misses it.
func (b *bed) describeTaskSet(t *testing.T, sd awsim.Seeded, id string) (*ecstypes.TaskSet, []ecstypes.Failure) {
	t.Helper()
	out, err := b.ecs.DescribeTaskSets(b.ctx, &ecs.DescribeTaskSetsInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSets: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.TaskSets) == 1 && len(out.Failures) == 0 && aws.ToString(out.TaskSets[0].Id) == id {
		return &out.TaskSets[0], nil
	}
	if len(out.TaskSets) != 0 || len(out.Failures) != 1 {
		t.Fatalf("DescribeTaskSets(%s): %d task sets, failures %+v", id, len(out.TaskSets), out.Failures)
	}
	return nil, out.Failures
}

// serviceTaskSets returns the task sets DescribeServices lists, checking the
// invariants AWS keeps: no task set twice, at most one PRIMARY.
func (b *bed) serviceTaskSets(t *testing.T, sd awsim.Seeded) map[string]ecstypes.TaskSet {
	t.Helper()
	out, err := b.ecs.DescribeServices(b.ctx, &ecs.DescribeServicesInput{Cluster: &sd.Cluster, Services: []string{sd.Service}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) != 1 {
		t.Fatalf("DescribeServices: %d services, failures %+v", len(out.Services), out.Failures)
	}
	m := map[string]ecstypes.TaskSet{}
	primaries := 0
	for _, ts := range out.Services[0].TaskSets {
		id := aws.ToString(ts.Id)
		if _, twice := m[id]; twice {
			t.Fatalf("DescribeServices lists task set %s twice", id)
		}
		m[id] = ts
		if aws.ToString(ts.Status) == "PRIMARY" {
			primaries++
		}
	}
	if primaries > 1 {
		t.Fatalf("DescribeServices lists %d PRIMARY task sets", primaries)
	}
	return m
}

func TestConsistencyOffByDefault(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "fresh"})
	if got := b.sim.Consistency(); got.Delay != 0 {
		t.Fatalf("consistency on by default: %+v", got)
	}
	td := b.registerTaskDef(t, sd, "fresh:v2")
	if _, err := b.ecs.DescribeTaskDefinition(b.ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &td}); err != nil {
		t.Fatalf("DescribeTaskDefinition right after RegisterTaskDefinition: %v", err)
	}
	for i := range 5 {
		ts := b.createTaskSet(t, sd, td, "green", fmt.Sprint("d", i))
		if got, failures := b.describeTaskSet(t, sd, *ts.Id); got == nil {
			t.Fatalf("DescribeTaskSets right after CreateTaskSet: failures %+v", failures)
		}
		if _, ok := b.serviceTaskSets(t, sd)[*ts.Id]; !ok {
			t.Fatalf("DescribeServices right after CreateTaskSet misses %s", *ts.Id)
		}
		tasks, err := b.ecs.ListTasks(b.ctx, &ecs.ListTasksInput{Cluster: &sd.Cluster, StartedBy: ts.Id})
		if err != nil {
			t.Fatal(err)
		}
		if len(tasks.TaskArns) != 2 {
			t.Fatalf("ListTasks right after CreateTaskSet: %d tasks, want 2", len(tasks.TaskArns))
		}
		if _, err := b.ecs.DeleteTaskSet(b.ctx, &ecs.DeleteTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSet: ts.Id, Force: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		if got, _ := b.describeTaskSet(t, sd, *ts.Id); got == nil || aws.ToString(got.Status) != "DRAINING" {
			t.Fatalf("DescribeTaskSets right after DeleteTaskSet: %+v", got)
		}
		b.sim.Advance(time.Minute)
	}
}

// TestConsistencyCreateTaskSet: right after CreateTaskSet, DescribeTaskSets
// may list the new task set under failures as MISSING, and DescribeServices
// agrees; once the delay has passed every read sees it. Writes see it at
// once.
func TestConsistencyCreateTaskSet(t *testing.T) {
	missed := 0
	for seed := uint64(1); seed <= seeds; seed++ {
		b := newBed(t, awsim.Config{})
		sd := b.seed(t, awsim.Scenario{Name: "create"})
		td := b.registerTaskDef(t, sd, "create:v2")
		b.eventuallyConsistent(t, seed)
		ts := b.createTaskSet(t, sd, td, "green", "d")
		got, failures := b.describeTaskSet(t, sd, *ts.Id)
		_, listed := b.serviceTaskSets(t, sd)[*ts.Id]
		if listed != (got != nil) {
			t.Fatalf("seed %d: DescribeTaskSets found it %v, DescribeServices %v: reads at one instant disagree", seed, got != nil, listed)
		}
		if got == nil {
			missed++
			if f := failures[0]; aws.ToString(f.Reason) != "MISSING" || aws.ToString(f.Arn) != *ts.Id {
				t.Fatalf("seed %d: failure %+v, want MISSING for %s", seed, f, *ts.Id)
			}
			// Writes act on the true state.
			if _, err := b.ecs.UpdateTaskSet(b.ctx, &ecs.UpdateTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSet: ts.Id,
				Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: 50}}); err != nil {
				t.Fatalf("seed %d: UpdateTaskSet of a task set reads miss: %v", seed, err)
			}
		}
		b.sim.Advance(consistencyDelay)
		if got, failures := b.describeTaskSet(t, sd, *ts.Id); got == nil {
			t.Fatalf("seed %d: DescribeTaskSets %v after CreateTaskSet still misses it: %+v", seed, consistencyDelay, failures)
		}
		if _, ok := b.serviceTaskSets(t, sd)[*ts.Id]; !ok {
			t.Fatalf("seed %d: DescribeServices %v after CreateTaskSet still misses it", seed, consistencyDelay)
		}
	}
	if missed == 0 || missed == seeds {
		t.Fatalf("the first read missed the new task set for %d of %d seeds; want some but not all", missed, seeds)
	}
}

// TestConsistencyTaskSetRemoval: after DeleteTaskSet, and after the
// emulator removes a drained task set, DescribeServices and DescribeTaskSets
// may still show it, as it was, for at most the delay.
func TestConsistencyTaskSetRemoval(t *testing.T) {
	cases := []struct {
		name string
		// scale is the task set's scale: 0 has no task to drain, so
		// DeleteTaskSet removes it; 100 drains first, then the emulator
		// removes it.
		scale float64
	}{
		{"removed by DeleteTaskSet", 0},
		{"removed once drained", 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stale := 0
			for seed := uint64(1); seed <= seeds; seed++ {
				b := newBed(t, awsim.Config{})
				sd := b.seed(t, awsim.Scenario{Name: "remove"})
				ts := b.createTaskSet(t, sd, b.registerTaskDef(t, sd, "remove:v2"), "green", "d")
				if _, err := b.ecs.UpdateTaskSet(b.ctx, &ecs.UpdateTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSet: ts.Id,
					Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: c.scale}}); err != nil {
					t.Fatal(err)
				}
				b.sim.Advance(time.Minute)
				b.eventuallyConsistent(t, seed)
				if _, err := b.ecs.DeleteTaskSet(b.ctx, &ecs.DeleteTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSet: ts.Id, Force: aws.Bool(true)}); err != nil {
					t.Fatal(err)
				}
				gone := func() bool {
					for _, v := range b.sim.TaskSets(sd.Cluster, sd.Service) {
						if v.ID == *ts.Id {
							return false
						}
					}
					return true
				}
				for !gone() {
					b.sim.Advance(100 * time.Millisecond)
				}
				got, failures := b.describeTaskSet(t, sd, *ts.Id)
				_, listed := b.serviceTaskSets(t, sd)[*ts.Id]
				if listed != (got != nil) {
					t.Fatalf("seed %d: DescribeTaskSets found it %v, DescribeServices %v: reads at one instant disagree", seed, got != nil, listed)
				}
				if got != nil {
					stale++
				} else if aws.ToString(failures[0].Reason) != "MISSING" {
					t.Fatalf("seed %d: failure %+v, want MISSING", seed, failures[0])
				}
				b.sim.Advance(consistencyDelay)
				if got, _ := b.describeTaskSet(t, sd, *ts.Id); got != nil {
					t.Fatalf("seed %d: DescribeTaskSets %v after the removal still shows it (%s)", seed, consistencyDelay, aws.ToString(got.Status))
				}
				if _, ok := b.serviceTaskSets(t, sd)[*ts.Id]; ok {
					t.Fatalf("seed %d: DescribeServices %v after the removal still lists it", seed, consistencyDelay)
				}
			}
			if stale == 0 || stale == seeds {
				t.Fatalf("the first read still showed the removed task set for %d of %d seeds; want some but not all", stale, seeds)
			}
		})
	}
}

// TestConsistencyTasks: ListTasks and DescribeTasks may miss tasks just
// launched and show tasks just stopped as they were.
func TestConsistencyTasks(t *testing.T) {
	missedLaunch, missedStop := 0, 0
	for seed := uint64(1); seed <= seeds; seed++ {
		b := newBed(t, awsim.Config{})
		sd := b.seed(t, awsim.Scenario{Name: "tasks"})
		td := b.registerTaskDef(t, sd, "tasks:v2")
		b.eventuallyConsistent(t, seed)
		ts := b.createTaskSet(t, sd, td, "green", "d")
		list := func(status ecstypes.DesiredStatus) []string {
			t.Helper()
			out, err := b.ecs.ListTasks(b.ctx, &ecs.ListTasksInput{Cluster: &sd.Cluster, StartedBy: ts.Id, DesiredStatus: status})
			if err != nil {
				t.Fatal(err)
			}
			return out.TaskArns
		}
		switch n := len(list(ecstypes.DesiredStatusRunning)); n {
		case 0:
			missedLaunch++
		case 2:
		default:
			t.Fatalf("seed %d: ListTasks lists %d of the 2 tasks launched in one call", seed, n)
		}
		b.sim.Advance(time.Minute)
		arns := list(ecstypes.DesiredStatusRunning)
		if len(arns) != 2 {
			t.Fatalf("seed %d: ListTasks a minute after launch: %d tasks", seed, len(arns))
		}
		if _, err := b.ecs.UpdateTaskSet(b.ctx, &ecs.UpdateTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSet: ts.Id,
			Scale: &ecstypes.Scale{Unit: ecstypes.ScaleUnitPercent, Value: 0}}); err != nil {
			t.Fatal(err)
		}
		stopped := list(ecstypes.DesiredStatusStopped)
		out, err := b.ecs.DescribeTasks(b.ctx, &ecs.DescribeTasksInput{Cluster: &sd.Cluster, Tasks: arns})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Tasks) != 2 {
			t.Fatalf("seed %d: DescribeTasks: %d tasks, failures %+v", seed, len(out.Tasks), out.Failures)
		}
		stillRunning := aws.ToString(out.Tasks[0].DesiredStatus) == "RUNNING"
		if stillRunning != (len(stopped) == 0) {
			t.Fatalf("seed %d: ListTasks lists %d stopped tasks, DescribeTasks says desired %s: reads at one instant disagree", seed, len(stopped), aws.ToString(out.Tasks[0].DesiredStatus))
		}
		if stillRunning {
			missedStop++
		}
		b.sim.Advance(consistencyDelay)
		if got := list(ecstypes.DesiredStatusStopped); len(got) != 2 {
			t.Fatalf("seed %d: ListTasks %v after the stop lists %d stopped tasks", seed, consistencyDelay, len(got))
		}
	}
	for what, n := range map[string]int{"missed the launch": missedLaunch, "missed the stop": missedStop} {
		if n == 0 || n == seeds {
			t.Errorf("reads %s for %d of %d seeds; want some but not all", what, n, seeds)
		}
	}
}

// TestConsistencyTaskDefinition: right after RegisterTaskDefinition,
// DescribeTaskDefinition may not know the revision, and the family still
// means the revision before.
func TestConsistencyTaskDefinition(t *testing.T) {
	missed := 0
	for seed := uint64(1); seed <= seeds; seed++ {
		b := newBed(t, awsim.Config{})
		sd := b.seed(t, awsim.Scenario{Name: "taskdef"})
		b.eventuallyConsistent(t, seed)
		td := b.registerTaskDef(t, sd, "taskdef:v2")
		_, err := b.ecs.DescribeTaskDefinition(b.ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &td})
		family, ferr := b.ecs.DescribeTaskDefinition(b.ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(sd.Name)})
		if ferr != nil {
			t.Fatal(ferr)
		}
		latest := *family.TaskDefinition.TaskDefinitionArn
		if err != nil {
			missed++
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "ClientException" || ae.ErrorMessage() != "Unable to describe task definition." {
				t.Fatalf("seed %d: DescribeTaskDefinition: %v", seed, err)
			}
			if latest != sd.TaskDefinitionArn {
				t.Fatalf("seed %d: the family means %s while its revision %s is unknown", seed, latest, td)
			}
		} else if latest != td {
			t.Fatalf("seed %d: the family means %s while revision %s is known", seed, latest, td)
		}
		b.sim.Advance(consistencyDelay)
		if _, err := b.ecs.DescribeTaskDefinition(b.ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &td}); err != nil {
			t.Fatalf("seed %d: DescribeTaskDefinition %v after RegisterTaskDefinition: %v", seed, consistencyDelay, err)
		}
	}
	if missed == 0 || missed == seeds {
		t.Fatalf("the first read missed the new revision for %d of %d seeds; want some but not all", missed, seeds)
	}
}

// TestConsistencySeeded: the same seed gives the same answers to the same
// calls; the trace of what reads saw is repeatable.
func TestConsistencySeeded(t *testing.T) {
	trace := func(seed uint64) string {
		b := newBed(t, awsim.Config{})
		sd := b.seed(t, awsim.Scenario{Name: "trace"})
		td := b.registerTaskDef(t, sd, "trace:v2")
		b.eventuallyConsistent(t, seed)
		var out strings.Builder
		for i := range 4 {
			ts := b.createTaskSet(t, sd, td, "green", fmt.Sprint("d", i))
			for range 4 {
				got, _ := b.describeTaskSet(t, sd, *ts.Id)
				fmt.Fprint(&out, got != nil, len(b.serviceTaskSets(t, sd)), " ")
				b.sim.Advance(consistencyDelay / 4)
			}
			if _, err := b.ecs.DeleteTaskSet(b.ctx, &ecs.DeleteTaskSetInput{Cluster: &sd.Cluster, Service: &sd.Service, TaskSet: ts.Id, Force: aws.Bool(true)}); err != nil {
				t.Fatal(err)
			}
			b.sim.Advance(time.Minute)
		}
		return out.String()
	}
	first := trace(7)
	if again := trace(7); again != first {
		t.Fatalf("seed 7 answered\n%s\nthen\n%s", first, again)
	}
}

// TestConsistencyControl drives the control over HTTP.
func TestConsistencyControl(t *testing.T) {
	b := newBed(t, awsim.Config{})
	call := func(method, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(b.ctx, method, b.url+"/_awsim/consistency", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(got))
	}
	steps := []struct {
		method, body string
		status       int
		answer       string
		want         awsim.Consistency
	}{
		{"GET", "", 200, `{"delay":"0s","seed":0}`, awsim.Consistency{}},
		{"POST", `{"delay":"2s","seed":7}`, 200, `{"delay":"2s","seed":7}`, awsim.Consistency{Delay: 2 * time.Second, Seed: 7}},
		{"GET", "", 200, `{"delay":"2s","seed":7}`, awsim.Consistency{Delay: 2 * time.Second, Seed: 7}},
		{"POST", `{"delay":"-1s"}`, 400, `{"error":"delay \"-1s\" is not a positive duration"}`, awsim.Consistency{Delay: 2 * time.Second, Seed: 7}},
		{"POST", `{"delay":"1s","lag":3}`, 400, `{"error":"decode /_awsim/consistency body: json: unknown field \"lag\""}`, awsim.Consistency{Delay: 2 * time.Second, Seed: 7}},
		{"POST", `{"delay":"500ms"}`, 200, `{"delay":"500ms","seed":1}`, awsim.Consistency{Delay: 500 * time.Millisecond, Seed: 1}},
		{"DELETE", "", 200, `{"delay":"0s","seed":0}`, awsim.Consistency{}},
	}
	for _, s := range steps {
		t.Run(s.method+" "+s.body, func(t *testing.T) {
			status, got := call(s.method, s.body)
			if status != s.status || got != s.answer {
				t.Fatalf("%s %s: %d %s, want %d %s", s.method, s.body, status, got, s.status, s.answer)
			}
			if c := b.sim.Consistency(); c != s.want {
				t.Fatalf("after %s %s: %+v, want %+v", s.method, s.body, c, s.want)
			}
		})
	}
	if err := b.sim.SetConsistency(awsim.Consistency{Delay: -time.Second}); err == nil || err.Error() != "awsim.Consistency.Delay is negative (-1s)" {
		t.Fatalf("SetConsistency with a negative delay: %v", err)
	}
}
