package handlers

import (
	"errors"
	"fmt"
	"time"

	"ecs-deploy/pipeline"
)

// maxInvisible is how long SQS keeps a received message invisible at most,
// counted from its receipt.
const maxInvisible = 12 * time.Hour

// load finds the request's config and app, and refuses a deploy that could
// outlast the 12 hours SQS keeps its message invisible.
func (h *Deploy) load(in *incoming, j *job) error {
	if len(j.req.Config) > 0 && !h.AllowInlineConfig {
		return reject(errors.New("this daemon does not accept configs inside requests (-allow-inline-config is off)"))
	}
	cfg, sha, err := h.Configs(in.ctx, j.req, in.sent)
	if err != nil {
		if errors.Is(err, ErrBadConfig) {
			return reject(err)
		}
		return err
	}
	app, env, err := cfg.Target(j.req.App, j.req.Env)
	if err != nil {
		return reject(err)
	}
	j.cfg, j.configSHA, j.project = cfg, sha, app.ArtifactDBProjectName
	if longest, setting := h.longestRun(app, env); longest > maxInvisible-time.Hour {
		return reject(fmt.Errorf("a deploy of %s to %s may run %v (%s), and SQS keeps its message invisible for 12 hours at most, an hour of which is kept for waiting: shorten %s",
			j.req.App, j.req.Env, longest, setting, setting))
	}
	return nil
}

// rejection is an error that is the request's fault: it reads as its
// reason alone and matches ErrRejected.
type rejection struct{ error }

func (r rejection) Is(target error) bool { return target == ErrRejected }
func (r rejection) Unwrap() error        { return r.error }

// reject marks err as the request's fault.
func reject(err error) error {
	if Rejected(err) {
		return err
	}
	return rejection{err}
}

// longestRun is how long a deploy of app to env may take at most, going by
// the settings that bound its steps, and the setting that weighs most.
func (h *Deploy) longestRun(app *pipeline.AppConfig, env *pipeline.EnvConfig) (time.Duration, string) {
	commandTimeout := h.Pipeline.CommandTimeout
	if commandTimeout == 0 {
		commandTimeout = 10 * time.Minute
	}
	rollout := time.Duration(env.RolloutTimeout)
	if rollout == 0 {
		rollout = 15 * time.Minute
	}
	n := len(app.PreDeployCommandTemplates) + len(app.VerifyCommandTemplates) + len(app.PostDeployCommandTemplates)
	parts := []struct {
		d    time.Duration
		name string
	}{
		{time.Duration(n) * commandTimeout, fmt.Sprintf("-command-timeout %v for each of %d commands", commandTimeout, n)},
		{rollout, fmt.Sprintf("RolloutTimeout %v", rollout)},
		{time.Duration(env.BakeTime), fmt.Sprintf("BakeTime %v", time.Duration(env.BakeTime))},
	}
	var total time.Duration
	heaviest := parts[0]
	for _, p := range parts {
		total += p.d
		if p.d > heaviest.d {
			heaviest = p
		}
	}
	return total, heaviest.name
}
