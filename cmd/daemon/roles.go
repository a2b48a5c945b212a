package main

import (
	"context"
	"errors"
	"fmt"

	wsqs "github.com/ThreeDotsLabs/watermill-aws/sqs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"ecs-deploy/handlers"
	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/internal/eventbus"
	"ecs-deploy/internal/metrics"
	"ecs-deploy/internal/policy"
	"ecs-deploy/internal/records"
	"ecs-deploy/internal/slack"
	"ecs-deploy/internal/sqsx"
	"ecs-deploy/internal/statuspage"
	"ecs-deploy/pipeline"
)

// roleSetup is what the roles share while the daemon starts.
type roleSetup struct {
	home     *home
	topicArn string
	reg      *prometheus.Registry
	// store is the ArtifactDB store, made once for the deploy and
	// artifactdb roles.
	store artifactdb.Store
}

func (s *roleSetup) artifactStore(ctx context.Context, m *Main) (artifactdb.Store, error) {
	if s.store == nil {
		store, err := m.artifactStore(ctx, s.home)
		if err != nil {
			return nil, err
		}
		s.store = store
	}
	return s.store, nil
}

// consumer subscribes to a queue with workers receive workers, through the
// subscriber that acks while the daemon drains, with a dead-letter
// publisher for the messages the handler rejects.
func (m *Main) consumer(s *roleSetup, name string, q queues, workers int, handle message.NoPublishHandlerFunc) (handlers.Consumer, error) {
	wlog := handlers.WatermillLogger{Log: m.log.With().Str("handler", name).Logger()}
	inner, err := wsqs.NewSubscriber(wsqs.SubscriberConfig{
		AWSConfig: s.home.cfg, DoNotCreateQueueIfNotExists: true, QueueUrlResolver: sqsx.ResolvedURL{},
		GenerateReceiveMessageInput: sqsx.ReceiveInput(5), ConsumeWorkers: workers, Unmarshaler: sqsx.Unmarshaler{},
	}, wlog)
	if err != nil {
		return handlers.Consumer{}, err
	}
	dlq, err := wsqs.NewPublisher(wsqs.PublisherConfig{
		AWSConfig: s.home.cfg, DoNotCreateQueueIfNotExists: true, QueueUrlResolver: sqsx.ResolvedURL{}, Marshaler: sqsx.DeadLetterMarshaler{},
		GenerateSendMessageInput: sqsx.SendInput,
	}, wlog)
	if err != nil {
		return handlers.Consumer{}, err
	}
	return handlers.Consumer{Name: name, QueueURL: q.url, DeadLetter: dlq, DeadLetterURL: q.deadLetterURL, Handler: handle,
		Subscriber: &sqsx.Subscriber{Inner: inner, SQS: s.home.sqs, QueueURL: q.url, Log: m.log}}, nil
}

// deployRole sets up the deploy handler: requests from -queue, run through
// the pipeline with each environment account's credentials (checked with
// sts:GetCallerIdentity first), artifacts from the ArtifactDB store, and
// each deploy's result recorded there before its final event, so the
// RequiresPreviousEnvDeploy gate of the next environment never races it.
func (m *Main) deployRole(ctx context.Context, s *roleSetup) (handlers.Consumer, error) {
	c, h := m.Config, s.home
	if err := h.identify(ctx); err != nil {
		return handlers.Consumer{}, err
	}
	q, err := m.requestQueues(ctx, h)
	if err != nil {
		return handlers.Consumer{}, err
	}
	m.locker, err = pipeline.NewLocker(h.ddb, pipeline.LockConfig{Table: c.LockTable, Owner: c.Owner, Lease: c.LockLease, Heartbeat: c.LockHeartbeat})
	if err != nil {
		return handlers.Consumer{}, err
	}
	store := records.Store{DB: h.ddb, Table: c.RequestsTable}
	if c.CreateResources {
		if err := m.locker.CreateTable(ctx, h.ddb); err != nil {
			return handlers.Consumer{}, err
		}
		if err := store.CreateTable(ctx, h.ddb); errors.Is(err, records.ErrNoTTL) {
			m.log.Warn().Err(err).Msg("request records will not expire here")
		} else if err != nil {
			return handlers.Consumer{}, err
		}
	}
	artifacts, err := s.artifactStore(ctx, m)
	if err != nil {
		return handlers.Consumer{}, err
	}
	accounts, err := m.accounts(h)
	if err != nil {
		return handlers.Consumer{}, err
	}
	loader, err := configLoader(c, h.account, h.cfg.Region)
	if err != nil {
		return handlers.Consumer{}, err
	}
	met := metrics.New(s.reg)
	m.recent = statuspage.NewRecent(statuspage.RecentConfig{})
	sink := loggingSink{next: m.recent.Sink(met.Sink(eventbus.Publisher{SNS: h.sns, TopicArn: s.topicArn}))}
	m.deploy = &handlers.Deploy{
		Pipeline: pipeline.Config{
			Clients:    accounts.ClientsFunc(true),
			ArtifactDB: artifacts,
			Results:    artifactdb.Recorder{Store: artifacts},
			Locker:     m.locker,
			Poll:       c.Poll, SlowPoll: c.SlowPoll, BakePoll: c.BakePoll,
			CommandTimeout: c.CommandTimeout,
			Kill:           m.kill,
		},
		Configs:           loader,
		Records:           store,
		Line:              records.Line{DB: h.ddb, Table: c.RequestsTable},
		Events:            sink,
		AllowInlineConfig: c.AllowInlineConfig,
		Visibility:        sqsx.Visibility{SQS: h.sqs, QueueURL: q.url},
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
			return handlers.Consumer{}, err
		}
		m.deploy.Policy = p
	} else {
		m.log.Warn().Msg("-allow-any-sender: any sender may deploy any app to any environment")
	}
	if c.AllowInlineConfig {
		m.log.Warn().Msg("-allow-inline-config: a sender may run commands of its own with the deploy credentials")
	}
	k, err := m.consumer(s, roleDeploy, q, c.Concurrency, m.deploy.Handle)
	if err != nil {
		return k, err
	}
	m.page = m.statusPage(loader, accounts.ClientsFunc(false), store)
	sweepCtx, stopSweep := context.WithCancel(context.WithoutCancel(ctx))
	m.stopSweep = stopSweep
	go handlers.Sweeper{Records: store, Events: sink, Interval: c.SweepInterval}.Run(sweepCtx)
	m.log.Info().Str("queue", q.url).Str("dead_letter_queue", q.deadLetterURL).Str("topic_arn", s.topicArn).
		Str("credentials", c.Credentials).Str("account", h.account).Str("region", h.cfg.Region).Str("store", c.storeName()).
		Int("concurrency", c.Concurrency).Msg("deploy role: consuming deploy requests")
	return k, nil
}

// slackRole sets up the Slack notifier on -slack-queue. Its webhook URL or
// bot token comes from the environment alone and is never logged.
func (m *Main) slackRole(ctx context.Context, s *roleSetup) (handlers.Consumer, error) {
	c, h := m.Config, s.home
	q, err := m.eventQueues(ctx, h, s.topicArn, c.SlackQueue, c.SlackDeadLetter, handlers.SlackEvents)
	if err != nil {
		return handlers.Consumer{}, err
	}
	cfg := slack.Config{WebhookURL: m.getenv("ECS_DEPLOY_SLACK_WEBHOOK_URL"), Token: m.getenv("ECS_DEPLOY_SLACK_TOKEN"),
		APIURL: c.SlackAPIURL, Getenv: m.getenv}
	if c.SlackRoutes != "" {
		if cfg.Routes, err = slack.LoadRoutes(c.SlackRoutes); err != nil {
			return handlers.Consumer{}, err
		}
	}
	threads := "memory"
	if c.SlackThreadsTable != "" {
		t := slack.DynamoThreads{DB: h.ddb, Table: c.SlackThreadsTable}
		if c.CreateResources {
			if err := t.CreateTable(ctx, h.ddb); err != nil {
				return handlers.Consumer{}, err
			}
		}
		cfg.Threads, threads = t, c.SlackThreadsTable
	}
	n, err := slack.New(cfg)
	if err != nil {
		return handlers.Consumer{}, fmt.Errorf("slack role: %w", err)
	}
	mode := "webhook"
	if cfg.Token != "" {
		mode = "bot"
	}
	// One worker: a deploy's events reach Slack in the order SQS gives them.
	k, err := m.consumer(s, roleSlack, q, 1, handlers.SlackNotify{Notifier: n}.Handle)
	if err != nil {
		return k, err
	}
	// The notifier retries each call itself (Retry-After, 5xx): one more
	// round, then the message comes back from the queue.
	k.Retries, k.Visibility, k.VisibilityTimeout = 1, sqsx.Visibility{SQS: h.sqs, QueueURL: q.url}, c.VisibilityTimeout
	m.log.Info().Str("queue", q.url).Str("dead_letter_queue", q.deadLetterURL).Str("mode", mode).Str("threads", threads).
		Msg("slack role: consuming deploy events")
	return k, nil
}

// artifactDBRole sets up the recorder of deploy results on
// -artifactdb-queue: success on deploy.succeeded, failure on deploy.failed
// and deploy.rolled_back. The deploy role records them too, before its
// final event; this role makes sure of it, and catches up from its queue.
func (m *Main) artifactDBRole(ctx context.Context, s *roleSetup) (handlers.Consumer, error) {
	c, h := m.Config, s.home
	q, err := m.eventQueues(ctx, h, s.topicArn, c.ArtifactDBQueue, c.ArtifactDBDeadLetter, handlers.RecordedEvents)
	if err != nil {
		return handlers.Consumer{}, err
	}
	store, err := s.artifactStore(ctx, m)
	if err != nil {
		return handlers.Consumer{}, err
	}
	k, err := m.consumer(s, roleArtifactDB, q, 2, handlers.RecordResults{Store: store}.Handle)
	if err != nil {
		return k, err
	}
	k.Visibility, k.VisibilityTimeout = sqsx.Visibility{SQS: h.sqs, QueueURL: q.url}, c.VisibilityTimeout
	m.log.Info().Str("queue", q.url).Str("dead_letter_queue", q.deadLetterURL).Str("store", c.storeName()).
		Msg("artifactdb role: consuming deploy events")
	return k, nil
}
