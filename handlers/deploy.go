package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"ecs-deploy/events"
	"ecs-deploy/internal/records"
	"ecs-deploy/pipeline"
)

// ConfigLoader returns the deploy config a request names and its SHA.
// Errors that wrap ErrBadConfig are the request's fault.
type ConfigLoader func(ctx context.Context, req events.Request) (*pipeline.DeployConfig, string, error)

// ErrBadConfig marks config errors a retry cannot fix.
var ErrBadConfig = errors.New("bad config")

// Records is the durable record of each request.
type Records interface {
	Get(ctx context.Context, requestID string) (records.Record, bool, error)
	Begin(ctx context.Context, r records.Record) (records.Record, bool, error)
	Finish(ctx context.Context, requestID string, final events.Event) error
}

// Authorizer says whether a sender may deploy an app to an env.
type Authorizer interface {
	Allow(sender, requestedBy, app, env string) error
}

// Visibility controls when a received message is seen again.
type Visibility interface {
	// Set makes the message invisible for d from now (0: visible now).
	Set(ctx context.Context, msg *message.Message, d time.Duration) error
}

// Metrics are told what the handler does.
type Metrics interface {
	Started(msg *message.Message)
	Finished(msg *message.Message, outcome string)
}

// Deploy is the watermill handler for deploy requests.
type Deploy struct {
	// Pipeline is the template for each request's pipeline; Deploy and
	// Events are set per request.
	Pipeline pipeline.Config
	Configs  ConfigLoader
	Records  Records
	Events   pipeline.Sink
	// Policy, when set, must allow every request.
	Policy Authorizer
	// AllowInlineConfig lets a request carry its own config.
	AllowInlineConfig bool
	Visibility        Visibility
	// VisibilityTimeout is how long a message stays invisible, renewed
	// every third of it while its deploy runs. Default 60s.
	VisibilityTimeout time.Duration
	// QueuedDelay is how long a request waits when its app and env are
	// locked by a live deploy. Default 15s.
	QueuedDelay time.Duration
	Metrics     Metrics

	stopOnce sync.Once
	stop     chan struct{}
}

// Errors the middleware routes on.
var (
	// ErrRejected: the request is bad; it goes to the dead-letter queue.
	ErrRejected = errors.New("request rejected")
	// errComeBack: the request was put back to come again later.
	errComeBack = errors.New("request put back for later")
)

// Rejected says whether err means the message belongs in the dead-letter queue.
func Rejected(err error) bool { return errors.Is(err, ErrRejected) }

// Retryable says whether a retry now may help.
func Retryable(err error) bool { return !Rejected(err) && !errors.Is(err, errComeBack) }

func (h *Deploy) stopCh() chan struct{} {
	h.stopOnce.Do(func() {
		if h.stop == nil {
			h.stop = make(chan struct{})
		}
	})
	return h.stop
}

// Stop asks running deploys to stop at their next safe point; their messages
// come back for a resume.
func (h *Deploy) Stop() {
	ch := h.stopCh()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (h *Deploy) visibilityTimeout() time.Duration {
	if h.VisibilityTimeout == 0 {
		return 60 * time.Second
	}
	return h.VisibilityTimeout
}

// Handle runs one request message.
func (h *Deploy) Handle(msg *message.Message) error {
	ctx := msg.Context()
	if h.Metrics != nil {
		h.Metrics.Started(msg)
	}
	outcome := "error"
	defer func() {
		if h.Metrics != nil {
			h.Metrics.Finished(msg, outcome)
		}
	}()
	req, err := events.DecodeRequest(msg.Payload)
	log := zerolog.Ctx(ctx).With().Str("deploy_id", req.RequestID).Str("app", req.App).Str("env", req.Env).
		Str("correlation_id", msg.Metadata.Get(MetaCorrelationID)).Logger()
	ctx = log.WithContext(ctx)
	if err != nil {
		outcome = "rejected"
		return h.reject(ctx, msg, req, err)
	}
	if h.Policy != nil {
		if err := h.Policy.Allow(msg.Metadata.Get(MetaSenderID), req.RequestedBy, req.App, req.Env); err != nil {
			outcome = "rejected"
			return h.reject(ctx, msg, req, err)
		}
	}
	if len(req.Config) > 0 && !h.AllowInlineConfig {
		outcome = "rejected"
		return h.reject(ctx, msg, req, errors.New("this daemon does not accept configs inside requests"))
	}
	rec, ok, err := h.Records.Get(ctx, req.RequestID)
	if err != nil {
		return err
	}
	if ok && rec.Done() {
		// A duplicate of a finished request: tell its outcome again.
		log.Info().Str("state", rec.State).Msg("duplicate of a finished request")
		outcome = "duplicate"
		return h.Events.Publish(ctx, *rec.Final)
	}
	cfg, configSHA, err := h.Configs(ctx, req)
	if err != nil {
		if errors.Is(err, ErrBadConfig) {
			outcome = "rejected"
			return h.reject(ctx, msg, req, err)
		}
		return err
	}
	if _, _, err := cfg.Target(req.App, req.Env); err != nil {
		outcome = "rejected"
		return h.reject(ctx, msg, req, err)
	}
	if _, created, err := h.Records.Begin(ctx, records.Record{RequestID: req.RequestID, App: req.App, Env: req.Env}); err != nil {
		return err
	} else if created {
		h.publish(ctx, req, msg, events.DeployAccepted, fmt.Sprintf("%s requested by %s", req.EffectiveMode(), req.RequestedBy), nil)
	}
	stopHiding := h.keepInvisible(ctx, msg)
	defer stopHiding()

	outcome, err = h.run(ctx, msg, req, cfg, configSHA, stopHiding)
	return err
}

// run carries the request through the pipeline and maps its outcome.
// stopHiding ends the visibility renewals before the handler sets the
// message's visibility itself.
func (h *Deploy) run(ctx context.Context, msg *message.Message, req events.Request, cfg *pipeline.DeployConfig, configSHA string, stopHiding func()) (string, error) {
	log := zerolog.Ctx(ctx)
	sink := &finalSink{next: h.Events}
	pc := h.Pipeline
	pc.Deploy, pc.Events = cfg, sink
	p, err := pipeline.New(pc)
	if err != nil {
		return "error", err
	}
	preq := pipeline.Request{DeployID: req.RequestID, App: req.App, Env: req.Env, ConfigSHA: configSHA,
		Artifact: pipeline.Selector{SHA: req.SHA, Build: req.Build}, Mode: pipeline.Mode(req.EffectiveMode()),
		RequestedBy: req.RequestedBy, Reason: req.Reason, CorrelationID: msg.Metadata.Get(MetaCorrelationID)}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-h.stopCh():
			cancel()
		case <-runCtx.Done():
		}
	}()

	if preq.Mode == pipeline.ModePlan {
		plan, err := p.Plan(runCtx, preq)
		if err != nil {
			if pipeline.Permanent(err) {
				return "rejected", h.reject(ctx, msg, req, err)
			}
			return "error", err
		}
		final := h.event(req, msg, events.DeploySucceeded, plan.String(), nil)
		final.Mode = events.ModePlan
		return "planned", h.finish(ctx, req, final)
	}

	st, err := p.Run(runCtx, preq)
	switch {
	case errors.Is(err, pipeline.ErrLockHeld):
		h.publish(ctx, req, msg, events.DeployQueued, err.Error(), nil)
		stopHiding()
		if verr := h.Visibility.Set(ctx, msg, h.queuedDelay()); verr != nil {
			log.Warn().Err(verr).Msg("delay the queued request")
		}
		return "queued", fmt.Errorf("%w: %v", errComeBack, err)
	case errors.Is(err, pipeline.ErrInterrupted):
		// Shutting down at a safe point: let another daemon resume now.
		stopHiding()
		if verr := h.Visibility.Set(context.WithoutCancel(ctx), msg, 0); verr != nil {
			log.Warn().Err(verr).Msg("release the interrupted request")
		}
		return "interrupted", fmt.Errorf("%w: %v", errComeBack, err)
	}
	if final, ok := sink.final(); ok {
		return string(final.Type), h.finish(ctx, req, final)
	}
	switch {
	case err == nil || errors.Is(err, pipeline.ErrRolledBack):
		// The deploy had already ended: another copy of this request ran
		// it. Tell its outcome again.
		return "duplicate", h.answerAgain(ctx, req, msg, st)
	case pipeline.Permanent(err):
		return "rejected", h.reject(ctx, msg, req, err)
	}
	return "error", err
}

// answerAgain publishes again the final event recorded for the request, or
// one made from the deploy's status when the record has none yet.
func (h *Deploy) answerAgain(ctx context.Context, req events.Request, msg *message.Message, st pipeline.Status) error {
	rec, ok, err := h.Records.Get(ctx, req.RequestID)
	if err != nil {
		return err
	}
	if ok && rec.Done() {
		return h.Events.Publish(ctx, *rec.Final)
	}
	final := h.event(req, msg, events.DeploySucceeded, "already deployed", nil)
	if st.State == pipeline.StateRolledBack {
		final = h.event(req, msg, events.DeployRolledBack, "already rolled back", errors.New(st.Error))
	}
	if err := h.Records.Finish(ctx, req.RequestID, final); err != nil {
		return err
	}
	return h.Events.Publish(ctx, final)
}

func (h *Deploy) queuedDelay() time.Duration {
	if h.QueuedDelay == 0 {
		return 15 * time.Second
	}
	return h.QueuedDelay
}

func (h *Deploy) finish(ctx context.Context, req events.Request, final events.Event) error {
	ctx = context.WithoutCancel(ctx)
	if err := h.Records.Finish(ctx, req.RequestID, final); err != nil {
		return err
	}
	if final.Mode == events.ModePlan {
		return h.Events.Publish(ctx, final)
	}
	return nil
}

// reject publishes deploy.rejected with the reason and returns an error
// that sends the message to the dead-letter queue. Nothing ran, so nothing
// is recorded: the sender may fix the request and send it again as it was.
func (h *Deploy) reject(ctx context.Context, msg *message.Message, req events.Request, reason error) error {
	ctx = context.WithoutCancel(ctx)
	zerolog.Ctx(ctx).Warn().Err(reason).Msg("request rejected")
	if req.RequestID == "" {
		req = salvageIDs(msg.Payload)
	}
	e := h.event(req, msg, events.DeployRejected, "", reason)
	if err := h.Events.Publish(ctx, e); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("publish deploy.rejected")
	}
	msg.Metadata.Set(metaRejectedReason, reason.Error())
	return fmt.Errorf("%w: %v", ErrRejected, reason)
}

// salvageIDs reads what it can of a request that failed to decode, so the
// rejection can be addressed to its sender.
func salvageIDs(body []byte) events.Request {
	var loose struct {
		RequestID any `json:"request_id"`
		App       any `json:"app"`
		Env       any `json:"env"`
	}
	_ = json.Unmarshal(body, &loose)
	s := func(v any) string {
		if str, ok := v.(string); ok && len(str) <= 64 {
			return str
		}
		return ""
	}
	return events.Request{RequestID: s(loose.RequestID), App: s(loose.App), Env: s(loose.Env)}
}

func (h *Deploy) event(req events.Request, msg *message.Message, t events.Type, message string, err error) events.Event {
	e := events.Event{Schema: events.EventSchema, Type: t, Time: time.Now().UTC(), DeployID: req.RequestID, App: req.App, Env: req.Env,
		CorrelationID: msg.Metadata.Get(MetaCorrelationID), Mode: req.EffectiveMode(), Message: message}
	if err != nil {
		e.Error = err.Error()
	}
	return e
}

func (h *Deploy) publish(ctx context.Context, req events.Request, msg *message.Message, t events.Type, message string, err error) {
	if perr := h.Events.Publish(ctx, h.event(req, msg, t, message, err)); perr != nil {
		zerolog.Ctx(ctx).Warn().Err(perr).Str("event_type", string(t)).Msg("publish event")
	}
}

// keepInvisible renews the message's invisibility while its deploy runs, so
// SQS never hands a live deploy to another daemon. The returned func stops
// it; it may be called more than once.
func (h *Deploy) keepInvisible(ctx context.Context, msg *message.Message) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	var once sync.Once
	timeout := h.visibilityTimeout()
	go func() {
		defer close(stopped)
		t := time.NewTicker(timeout / 3)
		defer t.Stop()
		for {
			if err := h.Visibility.Set(context.WithoutCancel(ctx), msg, timeout); err != nil {
				zerolog.Ctx(ctx).Warn().Err(err).Msg("extend message visibility")
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		once.Do(func() { close(done) })
		<-stopped
	}
}

// finalSink forwards a deploy's events and keeps its final one.
type finalSink struct {
	next pipeline.Sink

	mu   sync.Mutex
	last *events.Event
}

func (s *finalSink) Publish(ctx context.Context, e events.Event) error {
	if e.Type.Final() && e.DeployID != "" {
		s.mu.Lock()
		s.last = &e
		s.mu.Unlock()
	}
	return s.next.Publish(ctx, e)
}

func (s *finalSink) final() (events.Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return events.Event{}, false
	}
	return *s.last, true
}
