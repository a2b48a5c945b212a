package handlers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"ecs-deploy/events"
	"ecs-deploy/internal/records"
	"ecs-deploy/pipeline"
)

// ConfigLoader returns the deploy config a request names and its SHA.
// Errors that wrap ErrBadConfig are the request's fault.
type ConfigLoader func(ctx context.Context, req events.Request, sentAt time.Time) (*pipeline.DeployConfig, string, error)

// ErrBadConfig marks config errors a retry cannot fix.
var ErrBadConfig = errors.New("bad config")

// Records is the durable record of each request (*records.Store).
type Records interface {
	Get(ctx context.Context, requestID string) (records.Record, bool, error)
	Claim(ctx context.Context, r records.Record) (records.Record, bool, error)
	Save(ctx context.Context, r records.Record) error
	Reject(ctx context.Context, r records.Record) error
	Published(ctx context.Context, requestID, eventID string) error
}

// Line is the waiting line of each app and env (records.Line).
type Line interface {
	Join(ctx context.Context, app, env string, p records.Place) error
	Leave(ctx context.Context, app, env, requestID string) error
	Read(ctx context.Context, app, env string) ([]records.Place, error)
}

// LockTable reads deploy locks' items, and releases the lock of a holder
// that stopped renewing it (*pipeline.Locker).
type LockTable interface {
	Peek(ctx context.Context, key string) (pipeline.LockItem, bool, error)
	ReleaseDead(ctx context.Context, key, version string, resuming bool) (bool, error)
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

// Deploy is the watermill handler for deploy requests. Each message goes
// through the stages of Handle; a request that must wait for its app and
// env's lock waits with its message in flight (received once, its
// visibility extended), holding no deploy slot.
type Deploy struct {
	// Pipeline is the template for each request's pipeline; Deploy and
	// Events are set per request. Its Locker is the default Locks.
	Pipeline pipeline.Config
	Configs  ConfigLoader
	Records  Records
	Line     Line
	// Locks reads lock items. Default Pipeline.Locker.
	Locks  LockTable
	Events pipeline.Sink
	// Policy must allow every request. Nil allows every sender: the daemon
	// only leaves it nil when told -allow-any-sender.
	Policy Authorizer
	// AllowInlineConfig lets a request carry its own config.
	AllowInlineConfig bool
	Visibility        Visibility
	// VisibilityTimeout is how long a message stays invisible, renewed
	// every third of it while its request is handled. Default 30s: a
	// deploy whose daemon died is taken over within it and one Lease.
	VisibilityTimeout time.Duration
	// MaxQueueWait is how long a request waits for its app and env's lock
	// before it is rejected. Default 2h.
	MaxQueueWait time.Duration
	// OrderWindow is how long after it was sent a request waits before it
	// starts, so that one sent just before it, received a moment later by
	// any daemon, goes first. Rollbacks and aborts do not wait. Default
	// 500ms: long polls get a message within tens of milliseconds of its
	// send, and every request waits for it before it starts.
	OrderWindow time.Duration
	// Poll is how often a waiting request reads the lock and the line.
	// Default 1s.
	Poll time.Duration
	// Lease is the lock's lease: a holder whose record version has not
	// changed for that long is dead. Default 10s.
	Lease time.Duration
	// Concurrency is how many requests run at once; waiting ones do not
	// count. Default 4.
	Concurrency int
	// MaxWaiting is how many waiting requests let the subscriber take
	// other messages meanwhile; past it, a waiting request holds its
	// receive worker. Default 16.
	MaxWaiting int
	// Owner names this daemon in the waiting line.
	Owner   string
	Metrics Metrics

	initOnce sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	slots    chan struct{}
	// waiting counts the waiting requests that let go of their receive
	// worker.
	waiting chan struct{}
}

func (h *Deploy) init() {
	h.initOnce.Do(func() {
		h.stop = make(chan struct{})
		if h.VisibilityTimeout == 0 {
			h.VisibilityTimeout = 30 * time.Second
		}
		if h.MaxQueueWait == 0 {
			h.MaxQueueWait = 2 * time.Hour
		}
		if h.OrderWindow == 0 {
			h.OrderWindow = 500 * time.Millisecond
		}
		if h.Poll == 0 {
			h.Poll = time.Second
		}
		if h.Lease == 0 {
			h.Lease = 10 * time.Second
		}
		if h.Concurrency == 0 {
			h.Concurrency = 4
		}
		if h.Locks == nil && h.Pipeline.Locker != nil {
			h.Locks = h.Pipeline.Locker
		}
		if h.MaxWaiting == 0 {
			h.MaxWaiting = 16
		}
		h.slots = make(chan struct{}, h.Concurrency)
		h.waiting = make(chan struct{}, h.MaxWaiting)
	})
}

// Errors the middleware routes on.
var (
	// ErrRejected: the request is bad; it goes to the dead-letter queue.
	ErrRejected = errors.New("request rejected")
	// errLeft: the handler left the message as it should be (released for
	// another daemon, or in flight until it comes back); nothing to retry.
	errLeft = errors.New("message left for later")
)

// Rejected says whether err means the message belongs in the dead-letter queue.
func Rejected(err error) bool { return errors.Is(err, ErrRejected) }

// Retryable says whether a retry now may help.
func Retryable(err error) bool { return !Rejected(err) && !errors.Is(err, errLeft) }

// Stop asks waiting requests to let go of their messages and running
// deploys to stop at their next safe point; their messages come back at
// once for another daemon.
func (h *Deploy) Stop() {
	h.init()
	h.stopOnce.Do(func() { close(h.stop) })
}

func (h *Deploy) stopping() bool {
	select {
	case <-h.stop:
		return true
	default:
		return false
	}
}

// Handle runs one request message through named stages: decode,
// authorize, look up the record, load the config, run, answer. The record
// is claimed once at the start (a conditional write that returns the
// existing record) and written once at the end, plus once when the
// request has to wait.
func (h *Deploy) Handle(msg *message.Message) error {
	h.init()
	if h.Metrics != nil {
		h.Metrics.Started(msg)
	}
	in := receive(msg)
	out := h.handle(in)
	if h.Metrics != nil {
		h.Metrics.Finished(msg, out.kind)
	}
	err := h.answer(in, out)
	if out.stopHiding != nil {
		out.stopHiding()
	}
	return err
}

func (h *Deploy) handle(in *incoming) outcome {
	req, err := h.decode(in)
	if err != nil {
		return rejected(err)
	}
	if err := h.authorize(in, req); err != nil {
		return rejected(err)
	}
	j, dup, err := h.lookUp(in, req)
	switch {
	case err != nil:
		return failed(err)
	case dup != nil:
		return *dup
	}
	if err := h.load(in, j); err != nil {
		return j.outcomeOf(err)
	}
	if j.new {
		h.publish(in.ctx, h.event(in, j, events.DeployAccepted, fmt.Sprintf("%s requested by %s", j.req.EffectiveMode(), j.req.RequestedBy), nil))
	}
	return h.run(in, j)
}

// decode reads the request; one without a request_id gets the message ID.
func (h *Deploy) decode(in *incoming) (events.Request, error) {
	req, err := events.DecodeRequest(in.msg.Payload, in.messageID)
	if err != nil {
		in.describe(salvageIDs(in.msg.Payload, in.messageID))
		return in.req, err
	}
	in.describe(req)
	return req, nil
}

// authorize asks the policy about the sender SQS names.
func (h *Deploy) authorize(in *incoming, req events.Request) error {
	in.req = req
	if h.Policy == nil {
		return nil
	}
	return h.Policy.Allow(in.sender, req.RequestedBy, req.App, req.Env)
}
