package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"ecs-deploy/internal/appstatus"
	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/credentials"
	"ecs-deploy/internal/records"
	"ecs-deploy/internal/sandbox"
	"ecs-deploy/pipeline"
)

// isSandbox says whether the arguments ask for the sandbox.
func isSandbox(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool {
		switch a {
		case "-sandbox", "--sandbox", "-sandbox=true", "--sandbox=true":
			return true
		}
		return false
	})
}

// sandboxOptions are the sandbox's flags.
type sandboxOptions struct {
	serve, verbose bool
	listen         string
	scale          float64
	bake           time.Duration
}

// runSandbox runs the daemon against AWS stand-ins served in this process
// and plays the sandbox story (sandbox.Story) through it. With -serve it
// then keeps running, status page up, until interrupted. It returns the
// exit code.
func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o sandboxOptions
	fs := flag.NewFlagSet("daemon -sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("sandbox", true, "play a blue/green story against AWS stand-ins embedded in this process; needs nothing but Go")
	fs.BoolVar(&o.serve, "serve", false, "keep running after the story, with the status page up, and print the AWS_ENDPOINT_URL_* exports")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address of the daemon's status page, /healthz and /metrics")
	fs.Float64Var(&o.scale, "scale", 100, "the ECS emulator's simulated seconds per real second")
	fs.DurationVar(&o.bake, "bake", 2*time.Second, "the demo environment's BakeTime: how long step 11 watches the alarm")
	fs.BoolVar(&o.verbose, "v", false, "log the daemon to stderr too")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "daemon -sandbox: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	if err := playSandbox(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "daemon -sandbox:", err)
		return 1
	}
	return 0
}

func playSandbox(ctx context.Context, o sandboxOptions, stdout, stderr io.Writer) (err error) {
	started := time.Now()
	dir, err := os.MkdirTemp("", "ecs-deploy-sandbox-")
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, "daemon.log")
	defer func() {
		if err == nil {
			_ = os.RemoveAll(dir)
		} else {
			fmt.Fprintf(stderr, "daemon -sandbox: the daemon's log is kept in %s\n", logPath)
		}
	}()
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	var logOut io.Writer = logFile
	if o.verbose {
		logOut = io.MultiWriter(logFile, stderr)
	}

	const app, env = "demo", "prod"
	stack, err := sandbox.StartStack(sandbox.StackConfig{TimeScale: o.scale, Apps: []string{app}, Log: logOut})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stack.Close()) }()
	// The daemon, the story and the status reader find the stand-ins the
	// way any SDK client finds LocalStack: through the environment.
	for _, kv := range sandboxEnv(stack) {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		_ = os.Unsetenv(k)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("AWS configuration: %w", err)
	}
	names := sandbox.DefaultNames()
	res, err := sandbox.Provision(ctx, awsCfg, names, 10*time.Second)
	if err != nil {
		return fmt.Errorf("create the queues, topic and tables: %w", err)
	}
	files, err := sandbox.WriteFiles(dir, []awsim.Seeded{stack.Seeded[app]}, sandbox.FilesConfig{Env: env, BakeTime: o.bake})
	if err != nil {
		return err
	}

	m := NewMain(stdout, logOut)
	daemonArgs := []string{"-queue", names.Queue, "-topic-arn", res.TopicArn, "-lock-table", names.LockTable, "-requests-table", names.RequestsTable,
		"-config-file", files.Config, "-artifacts", files.Artifacts, "-listen", o.listen, "-owner", "sandbox-daemon",
		"-poll", "100ms", "-slow-poll", "200ms", "-bake-poll", "200ms", "-lock-lease", "3s", "-lock-heartbeat", "500ms",
		"-visibility-timeout", "10s", "-allow-any-sender", "-log-format", "json", "-log-level", "info"}
	if err := m.ParseFlags(daemonArgs, func(string) string { return "" }); err != nil {
		return fmt.Errorf("daemon flags: %w", err)
	}
	if err := m.Run(ctx); err != nil {
		_ = m.Close()
		return fmt.Errorf("daemon: %w", err)
	}
	defer func() { err = errors.Join(err, m.Close()) }()

	cfg, err := pipeline.LoadConfigFile(files.Config)
	if err != nil {
		return err
	}
	ddb := dynamodb.NewFromConfig(awsCfg)
	locker, err := pipeline.NewLocker(ddb, pipeline.LockConfig{Table: names.LockTable, Owner: "sandbox-status"})
	if err != nil {
		return err
	}
	accounts, err := credentials.New(credentials.Config{Base: awsCfg})
	if err != nil {
		return err
	}
	reader := appstatus.Reader{Config: cfg, Clients: accounts.ClientsFunc(false), Locker: locker, Records: records.Store{DB: ddb, Table: names.RequestsTable}}

	fmt.Fprintf(stdout, "ecs-deploy sandbox: SQS and SNS (goaws) on %s, DynamoDB (minidyn) on %s, ECS, ELBv2 and CloudWatch (awsim, time x%g) on %s\n",
		stack.Goaws, stack.DynamoDB, o.scale, stack.AWSim)
	fmt.Fprintf(stdout, "the daemon consumes %s; its status page is http://%s/\n", names.Queue, m.Addr())
	story := &sandbox.Story{App: app, Env: env, Sim: stack.Sim, Seeded: stack.Seeded[app], AWS: awsCfg,
		QueueURL: res.QueueURL, TopicArn: res.TopicArn, Status: reader, Observe: stack.OnPublish, Out: stdout, Colour: isTerminal(stdout)}
	parts := story.Parts()
	outs, playErr := story.Play(ctx, parts)
	fmt.Fprintln(stdout)
	sandbox.PrintSummary(stdout, outs)
	downtime := stack.Sim.Downtime()
	fmt.Fprintf(stdout, "\ndowntime (a serving rule forwarding to no healthy target): %d intervals\n", len(downtime))
	fmt.Fprintf(stdout, "story played in %.1fs\n", time.Since(started).Seconds())
	if playErr != nil {
		return playErr
	}
	if err := sandbox.AllOK(outs, len(parts)); err != nil {
		return err
	}
	if len(downtime) > 0 {
		return fmt.Errorf("downtime: %+v", downtime)
	}
	if !o.serve {
		return nil
	}
	fmt.Fprintf(stdout, "\nserving until interrupted. Status page: http://%s/\nTo talk to the sandbox from another shell:\n\n", m.Addr())
	for _, kv := range sandboxEnv(stack) {
		fmt.Fprintf(stdout, "export %s\n", kv)
	}
	fmt.Fprintf(stdout, "export ECS_DEPLOY_QUEUE=%s ECS_DEPLOY_TOPIC_ARN=%s ECS_DEPLOY_NO_QUEUE_POLICY=true\n", names.Queue, res.TopicArn)
	fmt.Fprintf(stdout, "\ngo run ./cmd/enqueue -app %s -env %s -build 1 -wait\ngo run ./cmd/enqueue status -config %s\naws ecs describe-services --cluster %s --services %s\n",
		app, env, files.Config, stack.Seeded[app].Cluster, stack.Seeded[app].Service)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	return nil
}

// sandboxEnv is the environment that points the AWS SDK and CLI at the
// stack, with credentials for it.
func sandboxEnv(s *sandbox.Stack) []string {
	return append(s.Endpoints(),
		"AWS_ACCESS_KEY_ID=sandbox", "AWS_SECRET_ACCESS_KEY=sandbox", "AWS_REGION="+s.Region, "AWS_DEFAULT_REGION="+s.Region,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
}
