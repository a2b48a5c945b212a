package appstatus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"ecs-deploy/internal/records"
	"ecs-deploy/pipeline"
)

// Locker is what the reader needs of the deploy lock table; a
// *pipeline.Locker is one.
type Locker interface {
	Peek(ctx context.Context, key string) (pipeline.LockItem, bool, error)
	Status(ctx context.Context, key string) (pipeline.Status, bool, error)
}

// Records finds a request's record; records.Store is one.
type Records interface {
	Get(ctx context.Context, requestID string) (records.Record, bool, error)
}

var (
	_ Locker  = (*pipeline.Locker)(nil)
	_ Records = records.Store{}
)

// Reader reads the status of apps and environments.
type Reader struct {
	// Config names the apps, environments and their AWS resources. Required.
	Config *pipeline.DeployConfig
	// Clients returns the AWS clients of an environment. Required.
	Clients pipeline.ClientsFunc
	// Locker reads the deploy status. Required.
	Locker Locker
	// Records, when set, names the build of task sets the deploy status
	// does not: the record of the deploy that created them (their
	// externalId).
	Records Records
}

// Validate reports every missing field.
func (r Reader) Validate() error {
	var errs []error
	if r.Config == nil {
		errs = append(errs, errors.New("appstatus.Reader.Config is nil"))
	}
	if r.Clients == nil {
		errs = append(errs, errors.New("appstatus.Reader.Clients is nil"))
	}
	if r.Locker == nil {
		errs = append(errs, errors.New("appstatus.Reader.Locker is nil"))
	}
	return errors.Join(errs...)
}

// AppEnv is the status of one app in one environment.
type AppEnv struct {
	App string `json:"app"`
	Env string `json:"env"`
	// Serving is the colour whose rule has the lower priority, and
	// ServingTaskSet the task set on its target group.
	Serving        string   `json:"serving,omitempty"`
	ServingTaskSet *TaskSet `json:"serving_task_set,omitempty"`
	// Rollback is the task set a rollback would serve again, if any.
	Rollback *TaskSet `json:"rollback,omitempty"`
	// TaskSets are all the service's task sets.
	TaskSets []TaskSet `json:"task_sets"`
	// Last is the last operation recorded in the lock table.
	Last *Operation `json:"last,omitempty"`
	// Running is the operation holding the lock now, if any.
	Running *Operation `json:"running,omitempty"`
	// Errors lists what could not be read.
	Errors []string `json:"errors,omitempty"`
}

// TaskSet is one task set and what it runs.
type TaskSet struct {
	ID     string `json:"id"`
	Arn    string `json:"arn"`
	Colour string `json:"colour,omitempty"`
	// Status is PRIMARY, ACTIVE or DRAINING.
	Status         string `json:"status"`
	Stability      string `json:"stability,omitempty"`
	Running        int32  `json:"running"`
	Desired        int32  `json:"desired"`
	TaskDefinition string `json:"task_definition"`
	// DeployID is the externalId: the deploy that created it.
	DeployID string `json:"deploy_id,omitempty"`
	// Build, Artifact and ConfigSHA are known when the deploy that created
	// it is: from the deploy status or the request record.
	Build     int    `json:"build,omitempty"`
	Artifact  string `json:"artifact,omitempty"`
	ConfigSHA string `json:"config_sha,omitempty"`
}

// Operation is a deploy, rollback or abort as the lock table records it.
type Operation struct {
	DeployID    string    `json:"deploy_id"`
	Mode        string    `json:"mode"`
	State       string    `json:"state"`
	Step        int       `json:"step"`
	StepName    string    `json:"step_name"`
	Build       int       `json:"build,omitempty"`
	ConfigSHA   string    `json:"config_sha,omitempty"`
	RequestedBy string    `json:"requested_by,omitempty"`
	Owner       string    `json:"owner,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
	Error       string    `json:"error,omitempty"`
}

// ReadAll reads every app and environment of the config, or only those
// named by app and env when they are not empty, sorted by app then env.
func (r Reader) ReadAll(ctx context.Context, app, env string) ([]AppEnv, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	var out []AppEnv
	for _, a := range sortedKeys(r.Config.Apps) {
		if app != "" && a != app {
			continue
		}
		for _, e := range sortedKeys(r.Config.Apps[a].Environments) {
			if env != "" && e != env {
				continue
			}
			out = append(out, r.Read(ctx, a, e))
		}
	}
	if len(out) == 0 && (app != "" || env != "") {
		if _, _, err := r.Config.Target(app, env); err != nil && app != "" && env != "" {
			return nil, err
		}
		return nil, fmt.Errorf("no app and environment in the deploy config match -app %q -env %q", app, env)
	}
	return out, nil
}

// Read reads one app and environment. What cannot be read is listed in
// Errors; the rest is filled in.
func (r Reader) Read(ctx context.Context, app, env string) AppEnv {
	s := AppEnv{App: app, Env: env, TaskSets: []TaskSet{}}
	fail := func(err error) { s.Errors = append(s.Errors, err.Error()) }
	_, e, err := r.Config.Target(app, env)
	if err != nil {
		fail(err)
		return s
	}
	key := pipeline.LockKey(app, env)
	st, hasStatus, err := r.Locker.Status(ctx, key)
	if err != nil {
		fail(err)
	}
	if hasStatus {
		s.Last = operation(st)
		if it, ok, err := r.Locker.Peek(ctx, key); err != nil {
			fail(err)
		} else if ok && !it.Released && st.State == pipeline.StateRunning {
			s.Running = operation(st)
			s.Running.Owner = it.Owner
		}
	}
	region := e.Region
	if region == "" {
		region = r.Config.ConfigRegion
	}
	clients, err := r.Clients(ctx, e.AccountID, region)
	if err != nil {
		fail(fmt.Errorf("AWS clients for %s %s: %w", e.AccountID, region, err))
		return s
	}
	colourOf := map[string]string{}
	for c, tg := range e.TargetGroupARNs {
		colourOf[tg] = c
	}
	serving, err := pipeline.ServingColour(ctx, clients.ELB, e)
	if err != nil {
		fail(err)
	}
	s.Serving = serving
	sets, err := taskSets(ctx, clients.ECS, e.Cluster, e.Family)
	if err != nil {
		fail(err)
	}
	for _, ts := range sets {
		v := TaskSet{ID: aws.ToString(ts.Id), Arn: aws.ToString(ts.TaskSetArn), Status: aws.ToString(ts.Status),
			Stability: string(ts.StabilityStatus), Running: ts.RunningCount, Desired: ts.ComputedDesiredCount,
			TaskDefinition: shortTaskDefinition(aws.ToString(ts.TaskDefinition)), DeployID: aws.ToString(ts.ExternalId)}
		for _, lb := range ts.LoadBalancers {
			if c, ok := colourOf[aws.ToString(lb.TargetGroupArn)]; ok {
				v.Colour = c
			}
		}
		r.artifactOf(ctx, &v, st, hasStatus)
		s.TaskSets = append(s.TaskSets, v)
	}
	slices.SortFunc(s.TaskSets, func(a, b TaskSet) int { return strings.Compare(rank(a), rank(b)) })
	for i := range s.TaskSets {
		ts := &s.TaskSets[i]
		if ts.Colour == s.Serving && ts.Status != "DRAINING" && (s.ServingTaskSet == nil || ts.Status == "PRIMARY") {
			s.ServingTaskSet = ts
		}
	}
	if hasStatus && st.State == pipeline.StateSucceeded && !st.RollingBack && st.Mode != pipeline.ModeAbort && st.PreviousTaskSetArn != "" {
		for i := range s.TaskSets {
			ts := &s.TaskSets[i]
			if ts.Arn == st.PreviousTaskSetArn && ts.Status != "DRAINING" && ts.Colour != s.Serving {
				s.Rollback = ts
			}
		}
	}
	return s
}

// rank orders task sets: PRIMARY, then ACTIVE, then DRAINING.
func rank(t TaskSet) string {
	return map[string]string{"PRIMARY": "0", "ACTIVE": "1"}[t.Status] + "2" + t.Colour
}

// artifactOf fills in what a task set runs: from the final event of the
// deploy that created it (its externalId), else from the deploy status,
// which names the task set of the last operation and the one before.
func (r Reader) artifactOf(ctx context.Context, ts *TaskSet, st pipeline.Status, hasStatus bool) {
	if r.Records != nil && ts.DeployID != "" {
		rec, ok, err := r.Records.Get(ctx, ts.DeployID)
		if err == nil && ok && rec.Final != nil && rec.Final.Build > 0 {
			ts.Build, ts.Artifact, ts.ConfigSHA = rec.Final.Build, rec.Final.Artifact, rec.Final.ConfigSHA
			return
		}
	}
	if !hasStatus {
		return
	}
	switch ts.Arn {
	case st.NewTaskSetArn:
		ts.Build, ts.Artifact, ts.ConfigSHA = st.Artifact.BuildNumber, st.Artifact.Value, st.ConfigSHA
	case st.PreviousTaskSetArn:
		if st.PreviousArtifact != nil {
			ts.Build, ts.Artifact = st.PreviousArtifact.BuildNumber, st.PreviousArtifact.Value
		}
	}
}

func operation(st pipeline.Status) *Operation {
	return &Operation{DeployID: st.DeployID, Mode: string(st.Mode), State: string(st.State), Step: st.Step, StepName: pipeline.StepName(st.Step),
		Build: st.Artifact.BuildNumber, ConfigSHA: st.ConfigSHA, RequestedBy: st.RequestedBy, Owner: st.Owner,
		UpdatedAt: st.UpdatedAt, Error: st.Error}
}

// taskSets lists the service's task sets: DescribeServices names them,
// DescribeTaskSets describes them (both calls the deploy role makes).
func taskSets(ctx context.Context, c pipeline.ECSAPI, cluster, service string) ([]ecstypes.TaskSet, error) {
	out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
	if err != nil {
		return nil, fmt.Errorf("describe service %s/%s: %w", cluster, service, err)
	}
	if len(out.Services) == 0 {
		return nil, fmt.Errorf("service %s/%s not found", cluster, service)
	}
	var ids []string
	for _, ts := range out.Services[0].TaskSets {
		ids = append(ids, aws.ToString(ts.TaskSetArn))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	sets, err := c.DescribeTaskSets(ctx, &ecs.DescribeTaskSetsInput{Cluster: aws.String(cluster), Service: aws.String(service), TaskSets: ids})
	if err != nil {
		return nil, fmt.Errorf("describe task sets of %s/%s: %w", cluster, service, err)
	}
	return sets.TaskSets, nil
}

// shortTaskDefinition turns a task definition ARN into family:revision.
func shortTaskDefinition(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
