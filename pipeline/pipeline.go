package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
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
	// Results, when set, records how each deploy ended before its final
	// event goes out, so a gate that reads it never races the event.
	// Default nil: results are left to a recorder listening to the events.
	Results ResultRecorder
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
	// PreemptWait is how long a rollback or an abort goes on asking a
	// running deploy to stop and waiting for the lock; the last wait may
	// take one lease more. Default 2m.
	PreemptWait time.Duration
	// CommandGrace is how long a command asked to stop (SIGTERM) by a
	// rollback or an abort has before it is killed (SIGKILL). Default 10s.
	CommandGrace time.Duration
	// Kill, when closed, kills running commands at once. Until then a
	// command whose deploy is stopping for a shutdown got SIGTERM and is
	// waited for: the daemon closes Kill when its shutdown budget runs out.
	// Default nil: never closed.
	Kill <-chan struct{}
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
	if c.PreemptWait == 0 {
		c.PreemptWait = 2 * time.Minute
	}
	if c.CommandGrace == 0 {
		c.CommandGrace = 10 * time.Second
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
	// ErrNothingToRollBack: a rollback or an abort with nothing to act on.
	ErrNothingToRollBack = errors.New("nothing to roll back")
	// ErrWrongAccount: the credentials for an environment belong to
	// another account than its AccountID; ClientsFunc errors wrap it.
	ErrWrongAccount = errors.New("credentials belong to another account")
	// ErrPreempted: a rollback or an abort asked this deploy to stop.
	ErrPreempted = errors.New("stopped for another request")
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
// A panic inside a step ends the deploy as failed, with a status a resume
// can continue and the lock released; a panic while it ends leaves the
// lock abandoned. Nothing renews the lock once Run has returned.
func (p *Pipeline) Run(ctx context.Context, req Request) (st Status, err error) {
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
	defer func() {
		if v := recover(); v != nil {
			st, err = r.panicked(ctx, v)
		}
		// Whatever happened, nothing renews the lock of a run that ended.
		if r.lock != nil {
			r.lock.Abandon()
		}
	}()
	r.shutdown = ctx
	if req.Mode == ModeRollback || req.Mode == ModeAbort {
		return r.preempt(ctx)
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
	// prev is the status a new deploy found under the lock.
	prev Status
	// shutdown is the request's context: it ends when the daemon stops,
	// not when a rollback or an abort asks the run to stop.
	shutdown context.Context
	// released says the lock is no longer held by this run.
	released bool
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
	if errors.Is(err, ErrWrongAccount) {
		return nil, permanentError{fmt.Errorf("AWS clients for %s/%s: %w", req.App, req.Env, err)}
	}
	if err != nil {
		return nil, fmt.Errorf("AWS clients for %s/%s: %w", req.App, req.Env, err)
	}
	// The caller's logger carries the request's app, env and ids.
	log := *zerolog.Ctx(ctx)
	return &run{p: p, req: req, app: app, env: env, aws: clients, key: LockKey(req.App, req.Env), log: log}, nil
}

// acquire takes the lock, waiting wait past one lease for a live holder.
func (r *run) acquire(ctx context.Context, wait time.Duration) (Status, bool, error) {
	lk, prev, ok, err := r.p.cfg.Locker.Acquire(ctx, r.key, wait)
	if err != nil {
		if errors.Is(err, ErrLockHeld) {
			return Status{}, false, err
		}
		if errors.Is(err, ErrStatusTooNew) {
			return Status{}, false, permanentError{err}
		}
		return Status{}, false, fmt.Errorf("step 1 (%s): %w", stepName(StepLock), err)
	}
	r.lock = lk
	return prev, ok, nil
}

// refuse answers a request that may not run, leaving the status as it was.
func (r *run) refuse(ctx context.Context, prev Status, err error) (Status, error) {
	r.released = true
	if relErr := r.lock.ReleaseUnchanged(ctx); relErr != nil {
		return Status{}, errors.Join(err, relErr)
	}
	return prev, permanentError{err}
}

// letGo releases the lock untouched after an error a retry may get past.
func (r *run) letGo(ctx context.Context, err error) (Status, error) {
	r.released = true
	return Status{}, errors.Join(err, r.lock.ReleaseUnchanged(ctx))
}

// answerAgain answers a request the status already answers (answerFor).
func (r *run) answerAgain(ctx context.Context, st Status, answer error) (Status, error) {
	r.released = true
	if err := r.lock.ReleaseUnchanged(ctx); err != nil {
		return Status{}, errors.Join(answer, err)
	}
	return st, answer
}

// begin records the status the run starts from, takes stop requests for
// this run, and says the run started.
func (r *run) begin(ctx context.Context, msg string) error {
	if r.st.DeployID != r.req.DeployID {
		r.log = r.log.With().Str("resumed_deploy_id", r.st.DeployID).Logger()
	}
	r.st.State, r.st.Error = StateRunning, ""
	if err := r.save(ctx); err != nil {
		return err
	}
	r.emit(ctx, events.DeployStarted, 0, msg, nil)
	return nil
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
	r.released = true
	r.lock.Abandon()
	return r.st, err
}

// panicked ends a run whose code panicked: as a failure of the step it was
// in, so a resume can continue it.
func (r *run) panicked(ctx context.Context, v any) (Status, error) {
	err := fmt.Errorf("panic: %v\n%s", v, debug.Stack())
	r.log.Error().Err(err).Msg("deploy panicked")
	if r.lock == nil || r.released {
		return r.st, err
	}
	return r.fail(ctx, r.st.Step, err)
}

// interrupted stops at a safe point: the status says which step comes next
// and the lock is released, so a resume (on any daemon) goes on from there.
func (r *run) interrupted(ctx context.Context, step int) (Status, error) {
	r.st.Step = step
	r.st.UpdatedAt = r.p.cfg.Clock.Now().UTC()
	err := fmt.Errorf("%w at step %d (%s): %v", ErrInterrupted, step, stepName(step), context.Cause(ctx))
	r.released = true
	if relErr := r.lock.Release(context.WithoutCancel(ctx), r.st); relErr != nil {
		return r.st, errors.Join(err, relErr)
	}
	return r.st, err
}

// fail ends an operation whose step failed: the status says failed at that
// step, the lock is released (unless it was lost) and deploy.failed goes
// out. A deploy that ran its pre-deploy commands and failed before moving
// traffic runs its post-deploy commands first, as its close.
func (r *run) fail(ctx context.Context, step int, err error) (Status, error) {
	err = &StepError{Step: step, Err: err}
	ctx = context.WithoutCancel(ctx)
	r.st.State, r.st.Step, r.st.Error = StateFailed, step, err.Error()+"; "+r.nextAdvice()
	r.st.UpdatedAt = r.p.cfg.Clock.Now().UTC()
	r.emit(ctx, events.StepFailed, step, "", err)
	switch {
	case errors.Is(err, ErrLockLost):
		r.lock.Abandon()
	case errors.Is(err, ErrPreempted):
		// The rollback or abort that asked closes what needs closing.
		err = errors.Join(err, r.lock.Release(ctx, r.st))
	default:
		if cerr := r.closeFailed(step); cerr != nil {
			r.st.Error += "; " + cerr.Error()
		}
		err = errors.Join(err, r.lock.Release(ctx, r.st))
	}
	r.released = true
	r.record(ctx, false)
	r.emit(ctx, events.DeployFailed, 0, r.nextAdvice(), err)
	return r.st, err
}

// record tells ArtifactDB how a deploy of a build ended. It is best effort:
// the recorder listening to the events records it again.
func (r *run) record(ctx context.Context, success bool) {
	if r.p.cfg.Results == nil || r.st.Artifact.BuildNumber == 0 || r.st.Mode == ModeRollback || r.st.Mode == ModeAbort {
		return
	}
	res := DeployResult{Project: r.app.ArtifactDBProjectName, Build: r.st.Artifact.BuildNumber, Env: r.req.Env,
		ConfigSHA: r.st.ConfigSHA, Success: success, EndedAt: r.p.cfg.Clock.Now().UTC()}
	if err := r.p.cfg.Results.RecordDeployResult(ctx, res); err != nil {
		r.log.Warn().Err(err).Msg("record the deploy's result in ArtifactDB")
	}
}

// nextAdvice says what to send after a failure.
func (r *run) nextAdvice() string {
	switch {
	case r.st.RollingBack:
		return "send resume or rollback to finish the rollback, or start-over with a build that works"
	case r.st.Mode == ModeAbort:
		return "send abort or resume to finish closing deploy " + r.st.Closes + ", or start-over"
	}
	return "send resume to continue this deploy, start-over to begin again, or rollback once traffic has moved"
}

// finish ends an operation that succeeded, rolled back or was aborted.
func (r *run) finish(ctx context.Context, state State, cause error) (Status, error) {
	ctx = context.WithoutCancel(ctx)
	r.st.State = state
	r.st.UpdatedAt = r.p.cfg.Clock.Now().UTC()
	if cause != nil {
		r.st.Error = cause.Error()
	}
	r.released = true
	if err := r.lock.Release(ctx, r.st); err != nil {
		return r.st, err
	}
	r.record(ctx, state == StateSucceeded && !r.st.RollingBack)
	switch {
	case state == StateRolledBack:
		r.emit(ctx, events.DeployRolledBack, 0, "traffic is back on the previous task set", cause)
		return r.st, cause
	case r.st.Mode == ModeAbort:
		r.emit(ctx, events.DeploySucceeded, 0, r.st.Error, nil)
	case r.st.RollingBack:
		r.emit(ctx, events.DeploySucceeded, 0, fmt.Sprintf("rolled back: %s serves %s again", r.st.PreviousColour, r.st.previous()), nil)
	default:
		r.emit(ctx, events.DeploySucceeded, 0, fmt.Sprintf("build %d serves %s on %s", r.st.Artifact.BuildNumber, r.req.Env, r.st.NewColour), nil)
	}
	return r.st, nil
}

func (r *run) emit(ctx context.Context, t events.Type, step int, msg string, err error) {
	r.emitFor(ctx, r.st.DeployID, t, step, msg, err)
}

// emitFor publishes an event about deployID.
func (r *run) emitFor(ctx context.Context, deployID string, t events.Type, step int, msg string, err error) {
	e := events.Event{
		Schema: events.EventSchema, Type: t, Time: r.p.cfg.Clock.Now().UTC(),
		DeployID: deployID, App: r.req.App, Env: r.req.Env, CorrelationID: r.st.CorrelationID,
		Mode: string(r.st.Mode), Step: step, Artifact: r.st.Artifact.Value, Build: r.st.Artifact.BuildNumber,
		ConfigSHA: r.st.ConfigSHA, Message: msg, Project: r.app.ArtifactDBProjectName, RequestedBy: r.st.RequestedBy,
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
