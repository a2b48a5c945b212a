package artifactdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ecs-deploy/pipeline"
)

// Outcome is the value of a deploy tag.
type Outcome string

const (
	Success Outcome = "success"
	Failure Outcome = "failure"
)

// EndedTag is the companion of DeployTag that holds when that result's
// deploy ended (UTC, fixed-width RFC 3339, so it also sorts as text).
func EndedTag(env, configSHA string) string {
	return pipeline.DeployTag(env, configSHA) + "-ended"
}

// timeLayout is RFC 3339 in UTC with nanoseconds, fixed width.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Result is the end of one deploy of a build.
type Result struct {
	Project   string
	Build     int
	Env       string
	ConfigSHA string
	Outcome   Outcome
	// EndedAt is when the deploy ended: the time of its final event.
	EndedAt time.Time
}

// Validate reports every missing or bad field.
func (r Result) Validate() error {
	var errs []error
	if r.Project == "" {
		errs = append(errs, errors.New("artifactdb.Result.Project is empty"))
	}
	if r.Build <= 0 {
		errs = append(errs, fmt.Errorf("artifactdb.Result.Build is %d, want a build number", r.Build))
	}
	if r.Env == "" {
		errs = append(errs, errors.New("artifactdb.Result.Env is empty"))
	}
	if r.ConfigSHA == "" {
		errs = append(errs, errors.New("artifactdb.Result.ConfigSHA is empty"))
	}
	if r.Outcome != Success && r.Outcome != Failure {
		errs = append(errs, fmt.Errorf("artifactdb.Result.Outcome is %q, want success or failure", r.Outcome))
	}
	if r.EndedAt.IsZero() {
		errs = append(errs, errors.New("artifactdb.Result.EndedAt is zero"))
	}
	return errors.Join(errs...)
}

// Tag and EndedTag name the two tags the result writes.
func (r Result) Tag() string      { return pipeline.DeployTag(r.Env, r.ConfigSHA) }
func (r Result) EndedTag() string { return EndedTag(r.Env, r.ConfigSHA) }

// Supersedes says whether r replaces the result the tags hold: when they
// hold none, when r ended later, or when both ended at the same moment and
// r is a success replacing a failure. A result tag without its time (as the
// original tool wrote them) counts as older than any time.
func (r Result) Supersedes(tags map[string]string) bool {
	ended, ok := tags[r.EndedTag()]
	if !ok {
		return true
	}
	t, err := time.Parse(time.RFC3339Nano, ended)
	if err != nil {
		return true
	}
	switch {
	case r.EndedAt.After(t):
		return true
	case r.EndedAt.Equal(t):
		return r.Outcome == Success && tags[r.Tag()] != string(Success)
	}
	return false
}

// Recorder records the pipeline's deploy results in a Store.
type Recorder struct{ Store Store }

var _ pipeline.ResultRecorder = Recorder{}

// RecordDeployResult records r as a success or failure tag.
func (rec Recorder) RecordDeployResult(ctx context.Context, r pipeline.DeployResult) error {
	outcome := Failure
	if r.Success {
		outcome = Success
	}
	return rec.Store.RecordResult(ctx, Result{Project: r.Project, Build: r.Build, Env: r.Env, ConfigSHA: r.ConfigSHA, Outcome: outcome, EndedAt: r.EndedAt})
}
