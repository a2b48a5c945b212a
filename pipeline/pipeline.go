package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"ecs-deploy/events"
)

// Config sets up a Pipeline.
type Config struct {
	// Deploy is the deploy configuration. Required.
	Deploy *DeployConfig
	// Clients returns the AWS clients of an environment. Required.
	Clients ClientsFunc
	// ArtifactDB finds artifacts and holds the gate's records. Required.
	ArtifactDB ArtifactDB
	// Locker takes the deploy locks. Required.
	Locker *Locker
	// Events receives step and completion events. Default: none kept.
	Events Sink
	// Clock is the pipeline's time. Default RealClock.
	Clock Clock
	// Poll is how often waits ask AWS for progress. Default 1s.
	Poll time.Duration
	// SlowPoll is how often step 7 asks while tasks are still starting,
	// before steady state is possible. Default 5s.
	SlowPoll time.Duration
	// StopCheckEvery is how many polls of a rollout pass between checks for
	// stopped tasks when the counts give no sign of one. Default 15.
	StopCheckEvery int
	// BakePoll is how often step 11 checks health and alarms. Default 5s.
	BakePoll time.Duration
	// CommandTimeout bounds each pre-, post- and verify command. Default 10m.
	CommandTimeout time.Duration
	// Getenv reads the daemon's environment for commands. Default os.Getenv.
	Getenv func(string) string
	// Environ lists the daemon's environment. Default os.Environ.
	Environ func() []string
	// Hook, when set, is called before and after each step's work; an error
	// from it stops the deploy on the spot, as if the process had died: the
	// lock is abandoned, not released, and no event is sent. For tests.
	Hook func(point HookPoint, step int) error
}

func (c *Config) setDefaults() {
	if c.Events == nil {
		c.Events = &MemorySink{}
	}
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.Poll == 0 {
		c.Poll = time.Second
	}
	if c.SlowPoll == 0 {
		c.SlowPoll = 5 * time.Second
	}
	if c.StopCheckEvery == 0 {
		c.StopCheckEvery = 15
	}
	if c.BakePoll == 0 {
		c.BakePoll = 5 * time.Second
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = 10 * time.Minute
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Environ == nil {
		c.Environ = os.Environ
	}
}

// Validate reports every missing field.
func (c Config) Validate() error {
	var errs []error
	if c.Deploy == nil {
		errs = append(errs, errors.New("pipeline.Config.Deploy is nil"))
	}
	if c.Clients == nil {
		errs = append(errs, errors.New("pipeline.Config.Clients is nil"))
	}
	if c.ArtifactDB == nil {
		errs = append(errs, errors.New("pipeline.Config.ArtifactDB is nil"))
	}
	if c.Locker == nil {
		errs = append(errs, errors.New("pipeline.Config.Locker is nil"))
	}
	if c.Poll < 0 || c.SlowPoll < 0 || c.BakePoll < 0 || c.CommandTimeout < 0 {
		errs = append(errs, errors.New("pipeline.Config durations must not be negative"))
	}
	return errors.Join(errs...)
}

// Pipeline runs deploy requests.
type Pipeline struct {
	cfg Config
}

// New returns a pipeline.
func New(cfg Config) (*Pipeline, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Pipeline{cfg: cfg}, nil
}

// Errors a request can end with, besides step failures.
var (
	// ErrUnfinished: a deploy request while the previous deploy is
	// unfinished; send resume or start-over.
	ErrUnfinished = errors.New("previous deploy unfinished")
	// ErrNothingToResume: a resume with no unfinished deploy.
	ErrNothingToResume = errors.New("nothing to resume")
	// ErrRolledBack: the deploy failed after the swap and traffic went back.
	ErrRolledBack = errors.New("deploy rolled back")
	// ErrInterrupted: the context ended; the deploy stopped at a safe point
	// with its status saved, and a resume continues it.
	ErrInterrupted = errors.New("deploy interrupted")
)

// permanent marks errors that no retry of the same request can fix.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// Permanent reports whether err will not go away by retrying the request:
// bad config, unknown app or artifact, the gate, a refused mode.
func Permanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Run carries a request through the pipeline and returns the final status.
func (p *Pipeline) Run(ctx context.Context, req Request) (Status, error) {
	if req.Mode == "" {
		req.Mode = ModeDeploy
	}
	if err := req.Validate(); err != nil {
		return Status{}, permanentError{err}
	}
	if req.Mode == ModePlan {
		return Status{}, permanentError{errors.New("plan requests go to Plan, not Run")}
	}
	r, err := p.newRun(ctx, req)
	if err != nil {
		return Status{}, err
	}
	if req.Mode == ModeRollback {
		return r.rollbackMode(ctx)
	}
	return r.deploy(ctx)
}

// run is one request in progress.
type run struct {
	p    *Pipeline
	req  Request
	app  *AppConfig
	env  *EnvConfig
	aws  Clients
	key  string
	lock *Lock
	st   Status
	log  zerolog.Logger
}

func (p *Pipeline) newRun(ctx context.Context, req Request) (*run, error) {
	app, env, err := p.cfg.Deploy.Target(req.App, req.Env)
	if err != nil {
		return nil, permanentError{err}
	}
	account := env.AccountID
	if account == "" {
		account = p.cfg.Deploy.ConfigAccountID
	}
	clients, err := p.cfg.Clients(ctx, account, p.cfg.Deploy.region(env))
	if err != nil {
		return nil, fmt.Errorf("AWS clients for %s/%s: %w", req.App, req.Env, err)
	}
	// The caller's logger carries the request's app, env and ids.
	log := *zerolog.Ctx(ctx)
	return &run{p: p, req: req, app: app, env: env, aws: clients, key: LockKey(req.App, req.Env), log: log}, nil
}

// deploy runs the deploy, resume and start-over modes.
func (r *run) deploy(ctx context.Context) (Status, error) {
	// A look without the lock answers a repeated request at once.
	if prev, ok, err := r.p.cfg.Locker.Status(ctx, r.key); err == nil && ok && prev.DeployID == r.req.DeployID && prev.Finished() {
		return finishedAlready(prev)
	}
	// The artifact and the gate are checked before the lock is taken.
	named := r.req.Artifact.SHA != "" || r.req.Artifact.Build > 0
	var art Artifact
	if named {
		a, err := r.findArtifact(ctx)
		if err != nil {
			return Status{}, err
		}
		art = a
	}

	// Step 1: the lock. What to do is decided from the status found under
	// it, which no other deploy can change any more.
	if err := r.hook(BeforeStep, StepLock); err != nil {
		return Status{}, err
	}
	lk, prev, hasPrev, err := r.p.cfg.Locker.Acquire(ctx, r.key)
	if err != nil {
		if errors.Is(err, ErrLockHeld) {
			return Status{}, err
		}
		return Status{}, fmt.Errorf("step 1 (%s): %w", stepName(StepLock), err)
	}
	r.lock = lk
	if err := r.hook(AfterStep, StepLock); err != nil {
		return r.crash(err)
	}
	refuse := func(err error) (Status, error) {
		if relErr := lk.Release(ctx, prev); relErr != nil {
			return Status{}, errors.Join(err, relErr)
		}
		return prev, permanentError{err}
	}
	unfinished := hasPrev && !prev.Finished()
	switch {
	case hasPrev && prev.DeployID == r.req.DeployID && prev.Finished():
		if err := lk.Release(ctx, prev); err != nil {
			return Status{}, err
		}
		return finishedAlready(prev)
	case unfinished && (r.req.Mode == ModeResume || prev.DeployID == r.req.DeployID):
		r.st = prev
		r.st.Mode = ModeResume
		r.st.CorrelationID = cmp.Or(r.req.CorrelationID, prev.CorrelationID)
	case unfinished && r.req.Mode == ModeDeploy:
		return refuse(fmt.Errorf("%w: deploy %s of %s stopped at step %d (%s) in state %s; send resume or start-over",
			ErrUnfinished, prev.DeployID, r.key, prev.Step, stepName(prev.Step), prev.State))
	case !named || r.req.ConfigSHA == "":
		// A resume with nothing unfinished and no artifact to start with.
		return refuse(fmt.Errorf("%w: the last deploy of %s finished", ErrNothingToResume, r.key))
	default:
		if r.req.Mode == ModeResume {
			// The deploy to resume never took the lock: start it.
			r.log.Info().Msg("nothing unfinished to resume; starting the deploy")
		}
		r.st = Status{DeployID: r.req.DeployID, App: r.req.App, Env: r.req.Env, Mode: r.req.Mode, Step: StepLock,
			Artifact: art, ConfigSHA: r.req.ConfigSHA, RequestedBy: r.req.RequestedBy, CorrelationID: r.req.CorrelationID}
	}
	if r.st.DeployID != r.req.DeployID {
		r.log = r.log.With().Str("resumed_deploy_id", r.st.DeployID).Logger()
		ctx = r.log.WithContext(ctx)
	}
	first := max(r.st.Step, StepPreDeploy)
	r.st.State, r.st.Error = StateRunning, ""
	if err := r.save(ctx); err != nil {
		return r.fail(ctx, StepLock, err)
	}
	r.emit(ctx, events.DeployStarted, 0, fmt.Sprintf("%s of build %d (%s) to %s", r.st.Mode, r.st.Artifact.BuildNumber, r.st.Artifact.Value, r.req.Env), nil)
	return r.steps(ctx, first)
}

// finishedAlready answers a request whose deploy already ended.
func finishedAlready(prev Status) (Status, error) {
	if prev.State == StateRolledBack {
		return prev, permanentError{fmt.Errorf("%w: %s", ErrRolledBack, prev.Error)}
	}
	return prev, nil
}

func (r *run) findArtifact(ctx context.Context) (Artifact, error) {
	a, err := r.p.cfg.ArtifactDB.FindArtifact(ctx, r.app.ArtifactDBProjectName, r.req.Artifact)
	if err != nil {
		if errors.Is(err, ErrArtifactNotFound) {
			return Artifact{}, permanentError{fmt.Errorf("artifact %s of project %s: %w", r.req.Artifact, r.app.ArtifactDBProjectName, err)}
		}
		return Artifact{}, fmt.Errorf("artifact %s of project %s: %w", r.req.Artifact, r.app.ArtifactDBProjectName, err)
	}
	if err := checkGate(a, r.env, r.req.ConfigSHA); err != nil {
		return Artifact{}, permanentError{err}
	}
	return a, nil
}

// steps runs steps from first to 12; on a resume past step 3, step 3's
// reading of the load balancer is done again first, unrecorded.
func (r *run) steps(ctx context.Context, first int) (Status, error) {
	var view *albView
	for step := StepPreDeploy; step <= StepPostDeploy; step++ {
		if step < first {
			if step == StepReadColour {
				// A resume past step 3 still needs the view it reads.
				v, err := r.readColour(ctx)
				if err != nil {
					return r.fail(ctx, step, err)
				}
				view = v
			}
			continue
		}
		// A safe point: never between the swap and the primary update, which
		// run to the end once the swap has begun.
		if ctx.Err() != nil && step != StepPrimary {
			return r.interrupted(ctx, step)
		}
		stepCtx := ctx
		if step == StepSwap || step == StepPrimary {
			stepCtx = context.WithoutCancel(ctx)
		}
		r.st.Step = step
		if err := r.save(stepCtx); err != nil {
			return r.fail(ctx, step, err)
		}
		if err := r.hook(BeforeStep, step); err != nil {
			return r.crash(err)
		}
		r.emit(stepCtx, events.StepStarted, step, "", nil)
		err := r.runStep(stepCtx, step, &view)
		if err == nil {
			if err := r.hook(AfterStep, step); err != nil {
				return r.crash(err)
			}
			r.emit(stepCtx, events.StepSucceeded, step, "", nil)
			continue
		}
		if errors.Is(err, ErrRolledBack) {
			return r.finish(ctx, StateRolledBack, err)
		}
		if ctx.Err() != nil && !errors.Is(err, ErrLockLost) {
			return r.interrupted(ctx, step)
		}
		return r.fail(ctx, step, err)
	}
	if err := r.confirm(ctx); err != nil {
		return r.fail(ctx, StepPostDeploy, err)
	}
	return r.finish(ctx, StateSucceeded, nil)
}

func (r *run) runStep(ctx context.Context, step int, view **albView) error {
	var err error
	switch step {
	case StepPreDeploy:
		return r.runCommands(ctx, "pre-deploy", r.app.PreDeployCommandTemplates, "")
	case StepReadColour:
		*view, err = r.readColour(ctx)
		return err
	case StepCleanUp:
		return r.cleanUp(ctx, *view)
	case StepTaskDefinition:
		return r.registerTaskDefinition(ctx)
	case StepCreateTaskSet:
		return r.createTaskSet(ctx)
	case StepWaitStable:
		return r.waitStable(ctx)
	case StepVerify:
		return r.verify(ctx)
	case StepSwap:
		return r.swap(ctx)
	case StepPrimary:
		return r.makePrimary(ctx)
	case StepBake:
		return r.bake(ctx)
	case StepPostDeploy:
		return r.runCommands(ctx, "post-deploy", r.app.PostDeployCommandTemplates, r.st.TaskDefinitionArn)
	}
	return fmt.Errorf("no step %d", step)
}

func (r *run) hook(point HookPoint, step int) error {
	if r.p.cfg.Hook == nil {
		return nil
	}
	return r.p.cfg.Hook(point, step)
}

// save records the status in the lock before a step.
func (r *run) save(ctx context.Context) error {
	r.st.UpdatedAt = r.p.cfg.Clock.Now().UTC()
	return r.lock.Save(ctx, r.st)
}

// crash stops as a dying process would: nothing more is written.
func (r *run) crash(err error) (Status, error) {
	r.lock.Abandon()
	return r.st, err
}

// interrupted stops at a safe point: the status says which step comes next
// and the lock is released, so a resume (on any daemon) goes on from there.
func (r *run) interrupted(ctx context.Context, step int) (Status, error) {
	r.st.Step = step
	r.st.UpdatedAt = r.p.cfg.Clock.Now().UTC()
	err := fmt.Errorf("%w at step %d (%s): %v", ErrInterrupted, step, stepName(step), context.Cause(ctx))
	if relErr := r.lock.Release(context.WithoutCancel(ctx), r.st); relErr != nil {
		return r.st, errors.Join(err, relErr)
	}
	return r.st, err
}

// fail ends a deploy whose step failed: the status says failed at that
// step, the lock is released (unless it was lost) and deploy.failed goes out.
func (r *run) fail(ctx context.Context, step int, err error) (Status, error) {
	err = &StepError{Step: step, Err: err}
	ctx = context.WithoutCancel(ctx)
	r.st.State, r.st.Step, r.st.Error = StateFailed, step, err.Error()
	r.st.UpdatedAt = r.p.cfg.Clock.Now().UTC()
	r.emit(ctx, events.StepFailed, step, "", err)
	if errors.Is(err, ErrLockLost) {
		r.lock.Abandon()
	} else if relErr := r.lock.Release(ctx, r.st); relErr != nil {
		err = errors.Join(err, relErr)
	}
	r.emit(ctx, events.DeployFailed, 0, "", err)
	return r.st, err
}

// finish ends a deploy that succeeded or rolled back.
func (r *run) finish(ctx context.Context, state State, cause error) (Status, error) {
	ctx = context.WithoutCancel(ctx)
	r.st.State = state
	r.st.UpdatedAt = r.p.cfg.Clock.Now().UTC()
	if cause != nil {
		r.st.Error = cause.Error()
	}
	if err := r.lock.Release(ctx, r.st); err != nil {
		return r.st, err
	}
	if state == StateRolledBack {
		r.emit(ctx, events.DeployRolledBack, 0, "traffic is back on the previous task set", cause)
		return r.st, cause
	}
	r.emit(ctx, events.DeploySucceeded, 0, fmt.Sprintf("build %d serves %s on %s", r.st.Artifact.BuildNumber, r.req.Env, r.st.NewColour), nil)
	return r.st, nil
}

func (r *run) emit(ctx context.Context, t events.Type, step int, msg string, err error) {
	e := events.Event{
		Schema: events.EventSchema, Type: t, Time: r.p.cfg.Clock.Now().UTC(),
		DeployID: r.st.DeployID, App: r.req.App, Env: r.req.Env, CorrelationID: r.st.CorrelationID,
		Mode: string(r.st.Mode), Step: step, Artifact: r.st.Artifact.Value, Build: r.st.Artifact.BuildNumber,
		ConfigSHA: r.st.ConfigSHA, Message: msg,
	}
	if step > 0 {
		e.StepName = stepName(step)
	}
	if err != nil {
		e.Error = err.Error()
	}
	if perr := r.p.cfg.Events.Publish(ctx, e); perr != nil {
		r.log.Warn().Err(perr).Str("event_type", string(t)).Msg("publish event")
	}
}
