package pipeline

import (
	"errors"
	"fmt"
	"strings"
)

// Mode says what a request asks of the pipeline.
type Mode string

const (
	// ModeDeploy deploys an artifact. It refuses to run while the previous
	// deploy of the app and environment is unfinished, unless it is the
	// same request again.
	ModeDeploy Mode = "deploy"
	// ModeResume continues the unfinished deploy with its artifact and
	// config: steps may repeat, the end state is as if it had succeeded.
	ModeResume Mode = "resume"
	// ModeStartOver begins a new deploy, maybe of another artifact,
	// rewinding nothing of the unfinished one.
	ModeStartOver Mode = "start-over"
	// ModeRollback re-serves the previous task set, still running.
	ModeRollback Mode = "rollback"
	// ModePlan says what a deploy would do and changes nothing.
	ModePlan Mode = "plan"
	// ModeAbort stops the running deploy at its next safe point and closes
	// it: before the swap the serving build stays, after it the previous
	// one is put back.
	ModeAbort Mode = "abort"
)

// Request is one deploy request, as the pipeline takes it.
type Request struct {
	// DeployID identifies the deploy; it is the task set's externalId.
	DeployID string
	App      string
	Env      string
	// Artifact selects the build: by SHA tag or build number.
	Artifact  Selector
	ConfigSHA string
	// Mode defaults to ModeDeploy.
	Mode          Mode
	RequestedBy   string
	Reason        string
	CorrelationID string
	// SkipCommands runs no pre- or post-deploy commands, as the original
	// tool's -skip-pre-post did. Verify commands still run.
	SkipCommands bool
}

// Validate reports every missing or bad field.
func (r Request) Validate() error {
	var errs []error
	if r.DeployID == "" {
		errs = append(errs, errors.New("pipeline.Request.DeployID is empty"))
	}
	if len(r.DeployID) > 36 {
		errs = append(errs, fmt.Errorf("pipeline.Request.DeployID %q is longer than 36 characters", r.DeployID))
	}
	if strings.IndexFunc(r.DeployID, func(c rune) bool { return c < 33 || c > 126 }) >= 0 {
		// It is the task set's client token.
		errs = append(errs, fmt.Errorf("pipeline.Request.DeployID %q has characters other than printable ASCII", r.DeployID))
	}
	if r.App == "" {
		errs = append(errs, errors.New("pipeline.Request.App is empty"))
	}
	if r.Env == "" {
		errs = append(errs, errors.New("pipeline.Request.Env is empty"))
	}
	switch r.Mode {
	case "", ModeDeploy, ModeStartOver, ModePlan:
		if r.Artifact.SHA == "" && r.Artifact.Build <= 0 {
			errs = append(errs, errors.New("pipeline.Request.Artifact names neither a SHA nor a build number"))
		}
		if r.ConfigSHA == "" {
			errs = append(errs, errors.New("pipeline.Request.ConfigSHA is empty"))
		}
	case ModeResume, ModeRollback, ModeAbort:
	default:
		errs = append(errs, fmt.Errorf("pipeline.Request.Mode %q is not deploy, resume, start-over, rollback, abort or plan", r.Mode))
	}
	return errors.Join(errs...)
}

// LockKey is the deploy lock's key for an app and environment.
func LockKey(app, env string) string { return app + "-" + env }
