package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"

	"ecs-deploy/events"
	"ecs-deploy/internal/configsource"
	"ecs-deploy/internal/eventbus"
	"ecs-deploy/internal/records"
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
	// exitUnreachable: AWS or the queue could not be reached; nothing is
	// known of the request.
	exitUnreachable = 6
	// exitInterrupted: Ctrl-C during -wait (128 + SIGINT). The request
	// goes on.
	exitInterrupted = 130
)

type options struct {
	app, env, sha, configFile, configSHA string
	build                                int
	resume, startOver, rollback, plan    bool
	abort, skipCommands                  bool
	queue, topicArn, requestID           string
	requestsTable                        string
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
	fs.BoolVar(&o.abort, "abort", false, "stop the running deploy at its next safe point and close it (before the swap, what serves stays)")
	fs.BoolVar(&o.skipCommands, "skip-commands", false, "run no pre- or post-deploy commands (the original tool's -skip-pre-post)")
	fs.StringVar(&o.queue, "queue", getenv("ECS_DEPLOY_QUEUE"), "request queue: name or URL (env ECS_DEPLOY_QUEUE)")
	fs.StringVar(&o.topicArn, "topic-arn", getenv("ECS_DEPLOY_TOPIC_ARN"), "events topic: -wait shows the progress it carries (env ECS_DEPLOY_TOPIC_ARN)")
	fs.StringVar(&o.requestsTable, "requests-table", cmp.Or(getenv("ECS_DEPLOY_REQUESTS_TABLE"), "DeployRequests"),
		"DynamoDB table of request records: -wait reads the outcome there (env ECS_DEPLOY_REQUESTS_TABLE)")
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
	if n := count(o.resume, o.startOver, o.rollback, o.plan, o.abort); n > 1 {
		errs = append(errs, errors.New("-resume, -start-over, -rollback, -abort and -plan exclude each other"))
	}
	if o.queue == "" {
		errs = append(errs, errors.New("-queue (or ECS_DEPLOY_QUEUE) is required"))
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
	case o.abort:
		return events.ModeAbort
	}
	return events.ModeDeploy
}

// request builds and checks the request, loading the config when given.
func (o options) request(ctx context.Context) (events.Request, error) {
	req := events.Request{Schema: events.RequestSchema, RequestID: o.requestID, App: o.app, Env: o.env, SHA: o.sha,
		Build: o.build, ConfigSHA: o.configSHA, Mode: o.mode(), RequestedBy: o.requestedBy, Reason: o.reason, SkipCommands: o.skipCommands}
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
		if req.ConfigSHA == "" && req.Mode != events.ModeResume && req.Mode != events.ModeRollback && req.Mode != events.ModeAbort {
			if req.ConfigSHA, err = configsource.RepoHead(ctx, o.configFile); err != nil {
				return req, err
			}
		}
	}
	return req, req.Validate()
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (int, error) {
	o, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK, nil
	}
	if err != nil {
		return exitUsage, err
	}
	req, err := o.request(ctx)
	if err != nil {
		return exitUsage, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return exitUnreachable, fmt.Errorf("AWS configuration: %w", err)
	}
	sqsC := sqs.NewFromConfig(awsCfg)
	queueURL, err := sqsx.QueueURL(ctx, sqsC, o.queue)
	if err != nil {
		return exitUnreachable, err
	}
	correlationID := uuid.NewString()
	var follower *eventbus.Follower
	if o.wait && o.topicArn != "" {
		// Subscribe before sending, for live progress. On AWS a new
		// subscription may miss events for a while; the record has the
		// outcome.
		follower, err = eventbus.Follow(ctx, sqsC, sns.NewFromConfig(awsCfg), o.topicArn,
			eventbus.FollowOptions{App: req.App, Env: req.Env, NoQueuePolicy: o.noQueuePolicy})
		if err != nil {
			return exitUnreachable, err
		}
		defer func() { _ = follower.Close(ctx) }()
	}
	if err := send(ctx, sqsC, queueURL, req, correlationID); err != nil {
		return exitUnreachable, err
	}
	p := newPrinter(o.output, stdout)
	p.sent(req, correlationID, queueURL)
	if !o.wait {
		return exitOK, nil
	}
	recs := records.Store{DB: dynamodb.NewFromConfig(awsCfg), Table: o.requestsTable}
	return waitForEnd(ctx, o.timeout, req, correlationID, follower, recs, p, stderr)
}

// send puts the request on the queue.
func send(ctx context.Context, c *sqs.Client, queueURL string, req events.Request, correlationID string) error {
	in, err := sendInput(queueURL, req, correlationID)
	if err != nil {
		return err
	}
	if _, err := c.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("send request %s: %w", req.RequestID, err)
	}
	return nil
}

// sendInput is the request as a message with its correlation ID; a FIFO
// queue gets app/env as the message group and the request ID with the
// request's hash for deduplication: a request fixed after a rejection and
// sent again under its ID is another message, not a duplicate to drop.
func sendInput(queueURL string, req events.Request, correlationID string) (*sqs.SendMessageInput, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	in := &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"correlation_id": {DataType: aws.String("String"), StringValue: aws.String(correlationID)}}}
	if strings.HasSuffix(queueURL, ".fifo") {
		in.MessageGroupId = aws.String(messageGroup(req))
		in.MessageDeduplicationId = aws.String(req.RequestID + "-" + req.Hash()[:16])
	}
	return in, nil
}

// messageGroup is a FIFO message group of one app and env: "app/env", or,
// past SQS's 128 characters, the app, env and a digest cut to fit.
func messageGroup(req events.Request) string {
	g := req.App + "/" + req.Env
	if len(g) <= 128 {
		return g
	}
	sum := sha256.Sum256([]byte(g))
	return g[:111] + "-" + hex.EncodeToString(sum[:8])
}
