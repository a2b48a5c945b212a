package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"ecs-deploy/internal/appstatus"
	"ecs-deploy/internal/credentials"
	"ecs-deploy/internal/records"
	"ecs-deploy/pipeline"
)

// statusOptions are the flags of `enqueue status`.
type statusOptions struct {
	app, env, configFile, output string
	lockTable, requestsTable     string
	roleTemplate                 string
}

func parseStatus(args []string, getenv func(string) string, stderr io.Writer) (statusOptions, error) {
	var o statusOptions
	fs := flag.NewFlagSet("enqueue status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.app, "app", "", "only this app")
	fs.StringVar(&o.env, "env", "", "only this environment")
	fs.StringVar(&o.configFile, "config", getenv("ECS_DEPLOY_CONFIG_FILE"), "deploy config file naming the apps, environments and their AWS resources (env ECS_DEPLOY_CONFIG_FILE)")
	fs.StringVar(&o.output, "o", "text", "text or json")
	fs.StringVar(&o.lockTable, "lock-table", envOr(getenv, "ECS_DEPLOY_LOCK_TABLE", "DeployLock"), "DynamoDB table of deploy locks (env ECS_DEPLOY_LOCK_TABLE)")
	fs.StringVar(&o.requestsTable, "requests-table", envOr(getenv, "ECS_DEPLOY_REQUESTS_TABLE", "DeployRequests"), "DynamoDB table of request records (env ECS_DEPLOY_REQUESTS_TABLE)")
	fs.StringVar(&o.roleTemplate, "assume-role", getenv("ECS_DEPLOY_ASSUME_ROLE"), "role ARN template assumed in each environment's account, such as arn:aws:iam::{{.Account}}:role/ecs-deploy-read (default: your own credentials everywhere; env ECS_DEPLOY_ASSUME_ROLE)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	if o.configFile == "" {
		errs = append(errs, errors.New("-config (or ECS_DEPLOY_CONFIG_FILE) is required: it names the listeners and services to read"))
	}
	if o.output != "text" && o.output != "json" {
		errs = append(errs, fmt.Errorf("-o %q is not text or json", o.output))
	}
	return o, errors.Join(errs...)
}

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

// runStatus prints, per app and environment, what serves, what a rollback
// would serve, and any deploy running: `enqueue status`.
func runStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (int, error) {
	o, err := parseStatus(args, getenv, stderr)
	if err != nil {
		return exitUsage, err
	}
	cfg, err := pipeline.LoadConfigFile(o.configFile)
	if err != nil {
		return exitUsage, err
	}
	base, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return exitFailed, fmt.Errorf("AWS configuration: %w", err)
	}
	mode := credentials.ModeChain
	if o.roleTemplate != "" {
		mode = credentials.ModeAssumeRole
	}
	accounts, err := credentials.New(credentials.Config{Mode: mode, Base: base, RoleARNTemplate: o.roleTemplate, SessionName: "ecs-deploy-status"})
	if err != nil {
		return exitUsage, err
	}
	home := base.Copy()
	if cfg.ConfigRegion != "" {
		home.Region = cfg.ConfigRegion
	}
	ddb := dynamodb.NewFromConfig(home)
	locker, err := pipeline.NewLocker(ddb, pipeline.LockConfig{Table: o.lockTable, Owner: "enqueue-status"})
	if err != nil {
		return exitFailed, err
	}
	r := appstatus.Reader{Config: cfg, Clients: accounts.ClientsFunc(false), Locker: locker, Records: records.Store{DB: ddb, Table: o.requestsTable}}
	all, err := r.ReadAll(ctx, o.app, o.env)
	if err != nil {
		return exitUsage, err
	}
	if o.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			return exitFailed, err
		}
	} else {
		printStatus(stdout, all)
	}
	for _, s := range all {
		if len(s.Errors) > 0 {
			return exitFailed, fmt.Errorf("%s %s: %s", s.App, s.Env, strings.Join(s.Errors, "; "))
		}
	}
	return exitOK, nil
}

// printStatus prints one block per app and environment.
func printStatus(w io.Writer, all []appstatus.AppEnv) {
	for i, s := range all {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s %s\n", s.App, s.Env)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		serving := "unknown"
		if s.Serving != "" {
			serving = s.Serving + ", no task set on it"
		}
		if ts := s.ServingTaskSet; ts != nil {
			serving = fmt.Sprintf("%s  %s  (task set %s, %s, %d/%d running)", s.Serving, ts.TaskDefinition, ts.ID, ts.Status, ts.Running, ts.Desired)
		}
		fmt.Fprintf(tw, "  serving\t%s\n", serving)
		fmt.Fprintf(tw, "  build\t%s\n", buildOf(s.ServingTaskSet))
		rollback := "none"
		if ts := s.Rollback; ts != nil {
			rollback = fmt.Sprintf("%s  %s  %s  (task set %s, %s, %d/%d running)", ts.Colour, ts.TaskDefinition, buildOf(ts), ts.ID, ts.Status, ts.Running, ts.Desired)
		}
		fmt.Fprintf(tw, "  rollback to\t%s\n", rollback)
		running := "none"
		if op := s.Running; op != nil {
			running = fmt.Sprintf("%s %s at step %d (%s), asked by %s, run by %s, since %s", op.Mode, op.DeployID, op.Step, op.StepName, or(op.RequestedBy, "?"), or(op.Owner, "?"), op.UpdatedAt.Local().Format(time.DateTime))
		}
		fmt.Fprintf(tw, "  running\t%s\n", running)
		if op := s.Last; op != nil && s.Running == nil {
			last := fmt.Sprintf("%s %s %s at step %d (%s), asked by %s, %s", op.Mode, op.DeployID, op.State, op.Step, op.StepName, or(op.RequestedBy, "?"), op.UpdatedAt.Local().Format(time.DateTime))
			if op.Error != "" {
				last += ": " + op.Error
			}
			fmt.Fprintf(tw, "  last\t%s\n", last)
		}
		for _, e := range s.Errors {
			fmt.Fprintf(tw, "  error\t%s\n", e)
		}
		_ = tw.Flush()
	}
}

func buildOf(ts *appstatus.TaskSet) string {
	switch {
	case ts == nil:
		return "unknown"
	case ts.Build == 0:
		return fmt.Sprintf("unknown (task set of deploy %q)", ts.DeployID)
	case ts.ConfigSHA == "":
		return fmt.Sprintf("build %d (%s), config unknown", ts.Build, ts.Artifact)
	}
	return fmt.Sprintf("build %d (%s), config %s", ts.Build, ts.Artifact, shortSHA(ts.ConfigSHA))
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
