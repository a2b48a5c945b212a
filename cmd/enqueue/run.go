package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"

	"ecs-deploy/events"
	"ecs-deploy/internal/configsource"
	"ecs-deploy/internal/eventbus"
	"ecs-deploy/internal/sqsx"
	"ecs-deploy/pipeline"
)

// Exit codes.
const (
	exitOK         = 0
	exitFailed     = 1
	exitUsage      = 2
	exitRejected   = 3
	exitRolledBack = 4
	exitTimeout    = 5
)

type options struct {
	app, env, sha, configFile, configSHA string
	build                                int
	resume, startOver, rollback, plan    bool
	queue, topicArn, requestID           string
	requestedBy, reason, output          string
	wait, noQueuePolicy                  bool
	timeout                              time.Duration
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.app, "app", "", "app to deploy")
	fs.StringVar(&o.env, "env", "", "environment to deploy to")
	fs.StringVar(&o.sha, "sha", "", "artifact: the value of its SHA tag")
	fs.IntVar(&o.build, "build", 0, "artifact: its build number")
	fs.StringVar(&o.configFile, "config", "", "deploy config file: checked here; its repository's HEAD is the config SHA")
	fs.StringVar(&o.configSHA, "config-sha", "", "config SHA to deploy with (default: from -config, else the daemon's current config)")
	fs.BoolVar(&o.resume, "resume", false, "resume the unfinished deploy")
	fs.BoolVar(&o.startOver, "start-over", false, "start over, rewinding nothing")
	fs.BoolVar(&o.rollback, "rollback", false, "re-serve the previous task set")
	fs.BoolVar(&o.plan, "plan", false, "say what a deploy would do; change nothing")
	fs.StringVar(&o.queue, "queue", getenv("ECS_DEPLOY_QUEUE"), "request queue: name or URL (env ECS_DEPLOY_QUEUE)")
	fs.StringVar(&o.topicArn, "topic-arn", getenv("ECS_DEPLOY_TOPIC_ARN"), "events topic, for -wait (env ECS_DEPLOY_TOPIC_ARN)")
	fs.StringVar(&o.requestID, "request-id", "", "idempotency key (default: a new UUID)")
	fs.StringVar(&o.requestedBy, "requested-by", cmp.Or(getenv("ECS_DEPLOY_REQUESTED_BY"), getenv("USER"), "enqueue"), "who asks")
	fs.StringVar(&o.reason, "reason", "", "why")
	fs.BoolVar(&o.wait, "wait", false, "follow the deploy to its end; the exit code says how it ended")
	fs.StringVar(&o.output, "o", "text", "text or json")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Minute, "how long -wait waits")
	fs.BoolVar(&o.noQueuePolicy, "no-queue-policy", getenv("ECS_DEPLOY_NO_QUEUE_POLICY") == "true",
		"do not set a queue policy on -wait's queue (goaws refuses them; env ECS_DEPLOY_NO_QUEUE_POLICY)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	if n := count(o.resume, o.startOver, o.rollback, o.plan); n > 1 {
		errs = append(errs, errors.New("-resume, -start-over, -rollback and -plan exclude each other"))
	}
	if o.queue == "" {
		errs = append(errs, errors.New("-queue (or ECS_DEPLOY_QUEUE) is required"))
	}
	if o.wait && o.topicArn == "" {
		errs = append(errs, errors.New("-wait needs -topic-arn (or ECS_DEPLOY_TOPIC_ARN)"))
	}
	if o.output != "text" && o.output != "json" {
		errs = append(errs, fmt.Errorf("-o %q is not text or json", o.output))
	}
	return o, errors.Join(errs...)
}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func (o options) mode() string {
	switch {
	case o.resume:
		return events.ModeResume
	case o.startOver:
		return events.ModeStartOver
	case o.rollback:
		return events.ModeRollback
	case o.plan:
		return events.ModePlan
	}
	return events.ModeDeploy
}

// request builds and checks the request, loading the config when given.
func (o options) request(ctx context.Context) (events.Request, error) {
	req := events.Request{Schema: events.RequestSchema, RequestID: o.requestID, App: o.app, Env: o.env, SHA: o.sha,
		Build: o.build, ConfigSHA: o.configSHA, Mode: o.mode(), RequestedBy: o.requestedBy, Reason: o.reason}
	if req.RequestID == "" {
		req.RequestID = uuid.NewString()
	}
	if o.configFile != "" {
		cfg, err := pipeline.LoadConfigFile(o.configFile)
		if err != nil {
			return req, err
		}
		if _, _, err := cfg.Target(o.app, o.env); err != nil {
			return req, err
		}
		if req.ConfigSHA == "" && req.Mode != events.ModeResume && req.Mode != events.ModeRollback {
			if req.ConfigSHA, err = configsource.RepoHead(ctx, o.configFile); err != nil {
				return req, err
			}
		}
	}
	return req, req.Validate()
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (int, error) {
	o, err := parse(args, getenv, stderr)
	if err != nil {
		return exitUsage, err
	}
	req, err := o.request(ctx)
	if err != nil {
		return exitUsage, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return exitFailed, fmt.Errorf("AWS configuration: %w", err)
	}
	sqsC := sqs.NewFromConfig(awsCfg)
	queueURL, err := sqsx.QueueURL(ctx, sqsC, o.queue)
	if err != nil {
		return exitFailed, err
	}
	correlationID := uuid.NewString()
	var follower *eventbus.Follower
	if o.wait {
		// Subscribe before sending, so no event is missed.
		follower, err = eventbus.Follow(ctx, sqsC, sns.NewFromConfig(awsCfg), o.topicArn,
			eventbus.FollowOptions{App: req.App, Env: req.Env, NoQueuePolicy: o.noQueuePolicy})
		if err != nil {
			return exitFailed, err
		}
		defer func() { _ = follower.Close(ctx) }()
	}
	if err := send(ctx, sqsC, queueURL, req, correlationID); err != nil {
		return exitFailed, err
	}
	p := newPrinter(o.output, stdout)
	p.sent(req, correlationID, queueURL)
	if !o.wait {
		return exitOK, nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	for {
		e, err := follower.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return exitTimeout, fmt.Errorf("no end of request %s after %v", req.RequestID, o.timeout)
			}
			return exitFailed, err
		}
		if e.DeployID != req.RequestID && e.CorrelationID != correlationID {
			continue
		}
		p.event(e)
		switch e.Type {
		case events.DeploySucceeded:
			return exitOK, nil
		case events.DeployFailed:
			return exitFailed, nil
		case events.DeployRejected:
			return exitRejected, nil
		case events.DeployRolledBack:
			return exitRolledBack, nil
		}
	}
}

// send puts the request on the queue with its correlation ID; a FIFO queue
// gets app/env as the message group and the request ID for deduplication.
func send(ctx context.Context, c *sqs.Client, queueURL string, req events.Request, correlationID string) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	in := &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"correlation_id": {DataType: aws.String("String"), StringValue: aws.String(correlationID)}}}
	if strings.HasSuffix(queueURL, ".fifo") {
		in.MessageGroupId = aws.String(req.App + "/" + req.Env)
		in.MessageDeduplicationId = aws.String(req.RequestID)
	}
	if _, err := c.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("send request %s: %w", req.RequestID, err)
	}
	return nil
}
