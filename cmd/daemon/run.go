package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/mattn/go-isatty"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"ecs-deploy/events"
	"ecs-deploy/handlers"
	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/internal/configsource"
	"ecs-deploy/internal/eventbus"
	"ecs-deploy/internal/metrics"
	"ecs-deploy/internal/policy"
	"ecs-deploy/internal/records"
	"ecs-deploy/internal/sqsx"
	"ecs-deploy/internal/statuspage"
	"ecs-deploy/pipeline"
)

// maxAttempts is how many times an AWS call is tried, with the SDK's
// exponential backoff (up to 20s) between tries, unless AWS_MAX_ATTEMPTS
// says otherwise. The SDK's own default, 3, gives up on a call that ECS
// throttles three times in a row: a deploy then stops where it is, after
// the swap perhaps, and waits for an operator's resume.
const maxAttempts = 10

// Main is the daemon: ParseFlags, Run, then Close.
type Main struct {
	Config Config

	stdout, stderr io.Writer
	log            zerolog.Logger
	server         *http.Server
	listener       net.Listener
	router         *message.Router
	deploy         *handlers.Deploy
	locker         *pipeline.Locker
	recent         *statuspage.Recent
	page           *statuspage.Page
	routerDone     chan error
	closing        chan struct{}
	closeOnce      sync.Once
	// kill, closed when the shutdown budget is nearly spent, kills running
	// commands.
	kill     chan struct{}
	killOnce sync.Once
	// stopSweep ends the sweeper of unpublished final events.
	stopSweep context.CancelFunc
}

// ParseFlags reads the configuration from args and the environment.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	return m.Config.Parse(args, getenv, m.stderr)
}

// Addr is the address of the health and metrics endpoint once running.
func (m *Main) Addr() string { return m.listener.Addr().String() }

// Run starts the daemon and returns once it consumes requests.
func (m *Main) Run(ctx context.Context) error {
	c := m.Config
	m.closing = make(chan struct{})
	m.kill = make(chan struct{})
	m.log = newLogger(m.stderr, c.LogFormat, c.LogLevel)
	ctx = m.log.WithContext(ctx)

	awsCfg, err := loadAWSConfig(ctx)
	if err != nil {
		return err
	}
	sqsC, snsC, ddb := sqs.NewFromConfig(awsCfg), sns.NewFromConfig(awsCfg), dynamodb.NewFromConfig(awsCfg)

	res, err := resolveResources(ctx, c, sqsC, snsC)
	if err != nil {
		return err
	}
	m.locker, err = pipeline.NewLocker(ddb, pipeline.LockConfig{Table: c.LockTable, Owner: c.Owner, Lease: c.LockLease, Heartbeat: c.LockHeartbeat})
	if err != nil {
		return err
	}
	store := records.Store{DB: ddb, Table: c.RequestsTable}
	if c.CreateResources {
		if err := m.locker.CreateTable(ctx, ddb); err != nil {
			return err
		}
		if err := store.CreateTable(ctx, ddb); errors.Is(err, records.ErrNoTTL) {
			m.log.Warn().Err(err).Msg("request records will not expire here")
		} else if err != nil {
			return err
		}
	}
	loader, err := configLoader(c)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	met := metrics.New(reg)
	m.recent = statuspage.NewRecent(statuspage.RecentConfig{})
	sink := loggingSink{next: m.recent.Sink(met.Sink(eventbus.Publisher{SNS: snsC, TopicArn: res.topicArn}))}
	m.deploy = &handlers.Deploy{
		Pipeline: pipeline.Config{
			Clients:    clientsFor(awsCfg),
			ArtifactDB: artifactdb.File{Path: c.Artifacts},
			Locker:     m.locker,
			Poll:       c.Poll, SlowPoll: c.SlowPoll, BakePoll: c.BakePoll,
			CommandTimeout: c.CommandTimeout,
			Kill:           m.kill,
		},
		Configs:           loader,
		Records:           store,
		Line:              records.Line{DB: ddb, Table: c.RequestsTable},
		Events:            sink,
		AllowInlineConfig: c.AllowInlineConfig,
		Visibility:        sqsx.Visibility{SQS: sqsC, QueueURL: res.queueURL},
		VisibilityTimeout: c.VisibilityTimeout,
		MaxQueueWait:      c.MaxQueueWait,
		OrderWindow:       c.OrderWindow,
		Poll:              c.LockHeartbeat,
		Lease:             c.LockLease,
		Concurrency:       c.Concurrency,
		MaxWaiting:        c.MaxWaiting,
		Owner:             c.Owner,
		Metrics:           met,
	}
	if c.Policy != "" {
		p, err := policy.Load(c.Policy)
		if err != nil {
			return err
		}
		m.deploy.Policy = p
	} else {
		m.log.Warn().Msg("-allow-any-sender: any sender may deploy any app to any environment")
	}
	if c.AllowInlineConfig {
		m.log.Warn().Msg("-allow-inline-config: a sender may run commands of its own with the deploy credentials")
	}

	wlog := handlers.WatermillLogger{Log: m.log}
	inner, err := wsqs.NewSubscriber(wsqs.SubscriberConfig{
		AWSConfig: awsCfg, DoNotCreateQueueIfNotExists: true, QueueUrlResolver: sqsx.ResolvedURL{},
		GenerateReceiveMessageInput: sqsx.ReceiveInput(5), ConsumeWorkers: c.Concurrency, Unmarshaler: sqsx.Unmarshaler{},
	}, wlog)
	if err != nil {
		return err
	}
	sub := &sqsx.Subscriber{Inner: inner, SQS: sqsC, QueueURL: res.queueURL, Log: m.log}
	dlq, err := wsqs.NewPublisher(wsqs.PublisherConfig{
		AWSConfig: awsCfg, DoNotCreateQueueIfNotExists: true, QueueUrlResolver: sqsx.ResolvedURL{}, Marshaler: sqsx.DeadLetterMarshaler{},
		GenerateSendMessageInput: sqsx.SendInput,
	}, wlog)
	if err != nil {
		return err
	}
	m.router, err = handlers.NewRouter(handlers.RouterConfig{Subscriber: sub, QueueURL: res.queueURL, DeadLetter: dlq,
		DeadLetterURL: res.deadLetterURL, Deploy: m.deploy, Log: m.log, CloseTimeout: c.ShutdownTimeout})
	if err != nil {
		return err
	}
	m.page = m.statusPage(loader, store)
	sweepCtx, stopSweep := context.WithCancel(context.WithoutCancel(ctx))
	m.stopSweep = stopSweep
	go handlers.Sweeper{Records: store, Events: sink, Interval: c.SweepInterval}.Run(sweepCtx)
	if err := m.serveHTTP(reg); err != nil {
		return err
	}
	m.routerDone = make(chan error, 1)
	go func() { m.routerDone <- m.router.Run(context.WithoutCancel(ctx)) }()
	select {
	case <-m.router.Running():
	case err := <-m.routerDone:
		return fmt.Errorf("router: %w", err)
	}
	m.log.Info().Str("queue", res.queueURL).Str("dead_letter_queue", res.deadLetterURL).Str("topic_arn", res.topicArn).
		Str("listen", m.Addr()).Int("concurrency", c.Concurrency).Msg("consuming deploy requests")
	return nil
}

// loadAWSConfig reads the standard AWS configuration chain; calls are
// tried maxAttempts times unless AWS_MAX_ATTEMPTS or the shared config's
// max_attempts say otherwise.
func loadAWSConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.RetryMaxAttempts == 0 {
		cfg.RetryMaxAttempts = maxAttempts
	}
	return cfg, nil
}

// KillCommands kills running commands at once.
func (m *Main) KillCommands() {
	if m.kill != nil {
		m.killOnce.Do(func() { close(m.kill) })
	}
}

// Close shuts down within -shutdown-timeout, the one budget: it stops
// taking requests, lets waiting requests go back to the queue, and asks
// running deploys to stop at their next safe point (their commands get
// SIGTERM). Messages finished meanwhile are still acked. When the budget
// is nearly spent (5s before its end, or a fifth of it if shorter),
// commands still running are killed; deploys that are not at a safe point
// by the end keep their lock until it lapses, and another daemon resumes
// them.
func (m *Main) Close() error {
	var errs []error
	m.closeOnce.Do(func() {
		budget := m.Config.ShutdownTimeout
		if budget == 0 {
			budget = 25 * time.Second
		}
		deadline := time.Now().Add(budget)
		killAt := budget - min(5*time.Second, budget/5)
		killTimer := time.AfterFunc(killAt, func() {
			m.log.Warn().Msg("shutdown budget nearly spent: killing running commands")
			m.KillCommands()
		})
		defer killTimer.Stop()
		if m.closing != nil {
			close(m.closing)
		}
		if m.deploy != nil {
			m.deploy.Stop()
		}
		if m.router != nil {
			if err := m.router.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if m.stopSweep != nil {
			m.stopSweep()
		}
		if m.locker != nil {
			// The router has waited for the handlers: their locks are
			// released or abandoned by now, unless a deploy is stuck.
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			errs = append(errs, m.locker.Close(ctx))
			cancel()
		}
		if m.server != nil {
			// Health checks and the status page get a second to finish;
			// connections still open then (a browser watching the page)
			// are closed.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if err := m.server.Shutdown(ctx); err != nil {
				_ = m.server.Close()
			}
			cancel()
		}
		m.log.Info().Msg("stopped")
	})
	return errors.Join(errs...)
}

func (m *Main) serveHTTP(reg *prometheus.Registry) error {
	ln, err := net.Listen("tcp", m.Config.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Listen, err)
	}
	m.listener = ln
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-m.closing:
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		default:
		}
		if m.router == nil || !m.router.IsRunning() {
			http.Error(w, "not consuming yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if m.page != nil {
		mux.Handle("GET /{$}", m.page)
		mux.Handle("GET /status.json", m.page.JSON())
	}
	m.server = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = m.server.Serve(ln) }()
	return nil
}

func newLogger(w io.Writer, format, level string) zerolog.Logger {
	if format == "console" || (format == "auto" && isTerminal(w)) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service", "ecs-deploy").Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// resources are the queues and topic the daemon uses.
type resources struct {
	queueURL, deadLetterURL, topicArn string
}

// resolveResources finds the queues and topic, creating them when told
// to: the request queue with a redrive policy to its dead-letter queue,
// as production has it.
func resolveResources(ctx context.Context, c Config, sqsC *sqs.Client, snsC *sns.Client) (resources, error) {
	var r resources
	dlqName := c.DeadLetterQueue
	if dlqName == "" {
		var err error
		if dlqName, err = sqsx.DeadLetterName(c.Queue); err != nil {
			return r, err
		}
	}
	if c.CreateResources {
		q, err := sqsx.CreateRequestQueues(ctx, sqsC, c.Queue, dlqName, c.VisibilityTimeout)
		if err != nil {
			return r, err
		}
		r.queueURL, r.deadLetterURL = q.URL, q.DeadLetterURL
	} else {
		var err error
		if r.deadLetterURL, err = sqsx.QueueURL(ctx, sqsC, dlqName); err != nil {
			return r, err
		}
		if r.queueURL, err = sqsx.QueueURL(ctx, sqsC, c.Queue); err != nil {
			return r, err
		}
	}
	r.topicArn = c.TopicArn
	if c.CreateResources {
		name := "ecs-deploy-events"
		if c.TopicArn != "" {
			name = c.TopicArn[strings.LastIndex(c.TopicArn, ":")+1:]
		}
		out, err := snsC.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
		if err != nil {
			return r, fmt.Errorf("create topic %s: %w", name, err)
		}
		r.topicArn = aws.ToString(out.TopicArn)
	}
	return r, nil
}

// configLoader returns where the request's config comes from.
func configLoader(c Config) (handlers.ConfigLoader, error) {
	var src configsource.Source
	switch {
	case c.ConfigRepo != "":
		src = &configsource.Git{Dir: c.ConfigRepo, Path: c.ConfigPath, Branch: c.ConfigBranch, AllowAnyCommit: c.AllowAnyCommit,
			FetchTimeout: c.ConfigFetchTimeout}
	case c.ConfigFile != "":
		src = configsource.File{Path: c.ConfigFile, SHA: c.ConfigSHA}
	}
	return func(ctx context.Context, req events.Request, _ time.Time) (*pipeline.DeployConfig, string, error) {
		var l configsource.Loaded
		var err error
		switch {
		case len(req.Config) > 0:
			l, err = configsource.Inline(req.Config, req.ConfigSHA)
		case src == nil:
			return nil, "", fmt.Errorf("%w: this daemon takes configs only inside requests", handlers.ErrBadConfig)
		default:
			l, err = src.Load(ctx, req.ConfigSHA)
		}
		var ce *pipeline.ConfigError
		if errors.Is(err, configsource.ErrUnknownVersion) || errors.Is(err, configsource.ErrNotOnBranch) || errors.As(err, &ce) {
			return nil, "", fmt.Errorf("%w: %w", handlers.ErrBadConfig, err)
		}
		if err != nil {
			return nil, "", err
		}
		return l.Config, l.SHA, nil
	}, nil
}

// clientsFor returns AWS clients for an environment's region, with the
// daemon's own credentials; commands get them as environment variables.
func clientsFor(base aws.Config) pipeline.ClientsFunc {
	var mu sync.Mutex
	cache := map[string]pipeline.Clients{}
	return func(ctx context.Context, account, region string) (pipeline.Clients, error) {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := cache[region]; ok {
			return c, nil
		}
		cfg := base.Copy()
		if region != "" {
			cfg.Region = region
		}
		c := pipeline.Clients{
			ECS: ecs.NewFromConfig(cfg), ELB: elb.NewFromConfig(cfg), CloudWatch: cloudwatch.NewFromConfig(cfg),
			CommandEnv: func(ctx context.Context) ([]string, error) {
				creds, err := cfg.Credentials.Retrieve(ctx)
				if err != nil {
					return nil, err
				}
				env := []string{"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey, "AWS_REGION=" + cfg.Region}
				if creds.SessionToken != "" {
					env = append(env, "AWS_SESSION_TOKEN="+creds.SessionToken)
				}
				return env, nil
			},
		}
		cache[region] = c
		return c, nil
	}
}

// loggingSink logs each event before passing it on.
type loggingSink struct{ next pipeline.Sink }

func (s loggingSink) Publish(ctx context.Context, e events.Event) error {
	ev := zerolog.Ctx(ctx).Info()
	if e.Error != "" {
		ev = zerolog.Ctx(ctx).Warn().Str("error", e.Error)
	}
	// The context's logger already names the deploy.
	ev.Str("event_type", string(e.Type)).Int("step", e.Step).Str("step_name", e.StepName).Msg(e.Message)
	return s.next.Publish(ctx, e)
}
