package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/sirupsen/logrus"
	minidyn "github.com/truora/minidyn/server"

	"ecs-deploy/events"
	"ecs-deploy/internal/awsim"
)

// StackConfig sets up a Stack.
type StackConfig struct {
	// Host is the loopback address every service listens on. Default
	// "127.0.0.1".
	Host string
	// Region and AccountID are used in every ARN. Default "us-east-1" and
	// "123456789012".
	Region, AccountID string
	// TimeScale is the emulator's simulated seconds per real second.
	// Default 100.
	TimeScale float64
	// Apps are the apps seeded in the emulator. Default ["demo"].
	Apps []string
	// Log receives goaws's log. Default: discarded.
	Log io.Writer
	// OnCall, when set, is told of every AWS call any of the stand-ins
	// receives, before it is served.
	OnCall func(Call)
}

// Call is one AWS call a stand-in received.
type Call struct {
	// AccessKey is the access key ID that signed the call: which role
	// made it, when each role has its own.
	AccessKey string
	// Action is the IAM action the call needs, such as "sqs:SendMessage".
	Action string
}

func (c *StackConfig) setDefaults() {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.AccountID == "" {
		c.AccountID = "123456789012"
	}
	if c.TimeScale == 0 {
		c.TimeScale = 100
	}
	if len(c.Apps) == 0 {
		c.Apps = []string{"demo"}
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Validate reports every field out of range.
func (c StackConfig) Validate() error {
	var errs []error
	if ip := net.ParseIP(c.Host); ip == nil || !ip.IsLoopback() {
		errs = append(errs, fmt.Errorf("sandbox.StackConfig.Host %q is not a loopback address", c.Host))
	}
	if c.TimeScale < 0 {
		errs = append(errs, fmt.Errorf("sandbox.StackConfig.TimeScale is negative (%v)", c.TimeScale))
	}
	return errors.Join(errs...)
}

// Stack is the AWS stand-ins, each served on its own loopback listener.
type Stack struct {
	// Goaws serves SQS and SNS, DynamoDB DynamoDB, AWSim ECS, ELBv2,
	// CloudWatch and STS: each an endpoint URL.
	Goaws, DynamoDB, AWSim string
	// Sim is the emulator, for its controls.
	Sim *awsim.Server
	// Seeded names what was seeded, by app.
	Seeded            map[string]awsim.Seeded
	Region, AccountID string

	servers []*http.Server
	quit    chan bool
	tap     *publishTap
}

// goaws keeps its queues and topics in package variables: one Stack per
// process.
var goawsInUse sync.Mutex

// ErrStackRunning is returned by StartStack while another Stack of the same
// process is running.
var ErrStackRunning = errors.New("a sandbox stack is already running in this process (goaws keeps global state)")

// StartStack starts the stand-ins. Close stops them.
func StartStack(cfg StackConfig) (*Stack, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !goawsInUse.TryLock() {
		return nil, ErrStackRunning
	}
	s := &Stack{Region: cfg.Region, AccountID: cfg.AccountID, Seeded: map[string]awsim.Seeded{}, quit: make(chan bool)}
	ok := false
	defer func() {
		if !ok {
			_ = s.Close()
		}
	}()

	// goaws: its environment first, as its command sets it from its
	// config file; then a fresh, empty state.
	goawsLn, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, "0"))
	if err != nil {
		return nil, fmt.Errorf("listen for goaws: %w", err)
	}
	port := strconv.Itoa(goawsLn.Addr().(*net.TCPAddr).Port)
	models.CurrentEnvironment = models.Environment{Host: cfg.Host, Port: port, Region: cfg.Region, AccountID: cfg.AccountID,
		QueueAttributeDefaults: models.EnvQueueAttributes{VisibilityTimeout: 30, MaximumMessageSize: 262144, MessageRetentionPeriod: 345600}}
	models.LogMessages = false
	resetGoaws()
	logrus.SetOutput(cfg.Log)
	logrus.SetLevel(logrus.WarnLevel)
	// PeriodicTasks makes messages whose visibility expired visible again;
	// goaws's command starts it, its test server does not.
	go gosqs.PeriodicTasks(time.Second, s.quit)
	s.tap = &publishTap{next: router.New()}
	s.Goaws = s.serve(goawsLn, recordCalls(s.tap, cfg.OnCall))

	ddbLn, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, "0"))
	if err != nil {
		return nil, fmt.Errorf("listen for DynamoDB: %w", err)
	}
	s.DynamoDB = s.serve(ddbLn, recordCalls(newDynamoFront(minidyn.NewServer()), cfg.OnCall))

	s.Sim, err = awsim.New(awsim.Config{Region: cfg.Region, AccountID: cfg.AccountID, TimeScale: cfg.TimeScale})
	if err != nil {
		return nil, err
	}
	for _, app := range cfg.Apps {
		sd, err := s.Sim.Seed(awsim.Scenario{Name: app})
		if err != nil {
			return nil, err
		}
		s.Seeded[app] = sd
	}
	simLn, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, "0"))
	if err != nil {
		return nil, fmt.Errorf("listen for the emulator: %w", err)
	}
	s.AWSim = s.serve(simLn, recordCalls(s.Sim, cfg.OnCall))
	ok = true
	return s, nil
}

func (s *Stack) serve(ln net.Listener, h http.Handler) string {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String()
}

// OnPublish has fn called with each event published to SNS, before goaws
// takes it and before the publisher gets its answer; nil stops it.
func (s *Stack) OnPublish(fn func(events.Event)) { s.tap.setHook(fn) }

// resetGoaws empties goaws's queues and topics.
func resetGoaws() {
	models.SyncQueues.Lock()
	models.SyncQueues.Queues = map[string]*models.Queue{}
	models.SyncQueues.Unlock()
	models.SyncTopics.Lock()
	models.SyncTopics.Topics = map[string]*models.Topic{}
	models.SyncTopics.Unlock()
}

// Endpoints returns the AWS_ENDPOINT_URL_<SERVICE> variables that point an
// SDK or the AWS CLI at the stack, as NAME=VALUE.
func (s *Stack) Endpoints() []string {
	return []string{
		"AWS_ENDPOINT_URL_SQS=" + s.Goaws,
		"AWS_ENDPOINT_URL_SNS=" + s.Goaws,
		"AWS_ENDPOINT_URL_DYNAMODB=" + s.DynamoDB,
		"AWS_ENDPOINT_URL_ECS=" + s.AWSim,
		"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2=" + s.AWSim,
		"AWS_ENDPOINT_URL_CLOUDWATCH=" + s.AWSim,
		"AWS_ENDPOINT_URL_STS=" + s.AWSim,
	}
}

// Close stops the servers and goaws's periodic task, and frees goaws for
// another Stack.
func (s *Stack) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.servers = nil
	if s.quit != nil {
		close(s.quit)
		s.quit = nil
		resetGoaws()
		goawsInUse.Unlock()
	}
	return errors.Join(errs...)
}
