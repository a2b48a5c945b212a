package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"ecs-deploy/internal/credentials"
	"ecs-deploy/internal/sqsx"
)

// Config is the daemon's configuration: flags, each with an environment
// variable as fallback.
type Config struct {
	Queue                string
	DeadLetterQueue      string
	TopicArn             string
	LockTable            string
	RequestsTable        string
	ConfigFile           string
	ConfigSHA            string
	ConfigRepo           string
	ConfigPath           string
	ConfigBranch         string
	AllowInlineConfig    bool
	AllowAnyCommit       bool
	ConfigFetchTimeout   time.Duration
	Artifacts            string
	ArtifactDBCLI        string
	ArtifactsTable       string
	Policy               string
	AllowAnySender       bool
	Concurrency          int
	MaxWaiting           int
	Roles                string
	Credentials          string
	RoleARNTemplate      string
	CloudTamerRoles      string
	SlackQueue           string
	SlackDeadLetter      string
	SlackRoutes          string
	SlackAPIURL          string
	SlackThreadsTable    string
	ArtifactDBQueue      string
	ArtifactDBDeadLetter string
	Listen               string
	CreateResources      bool
	VisibilityTimeout    time.Duration
	MaxQueueWait         time.Duration
	OrderWindow          time.Duration
	ShutdownTimeout      time.Duration
	CommandTimeout       time.Duration
	SweepInterval        time.Duration
	Poll                 time.Duration
	SlowPoll             time.Duration
	BakePoll             time.Duration
	LockLease            time.Duration
	LockHeartbeat        time.Duration
	Owner                string
	LogFormat            string
	LogLevel             string
}

type flagSpec struct {
	name, env, usage string
	target           any
	def              string
}

func (c *Config) specs() []flagSpec {
	host, _ := os.Hostname()
	return []flagSpec{
		{"queue", "ECS_DEPLOY_QUEUE", "deploy request queue: name or URL", &c.Queue, ""},
		{"dead-letter-queue", "ECS_DEPLOY_DEAD_LETTER_QUEUE", "queue for rejected requests: name or URL (default: <queue>-dlq)", &c.DeadLetterQueue, ""},
		{"topic-arn", "ECS_DEPLOY_TOPIC_ARN", "ARN of the SNS topic events go to", &c.TopicArn, ""},
		{"lock-table", "ECS_DEPLOY_LOCK_TABLE", "DynamoDB table of deploy locks", &c.LockTable, "DeployLock"},
		{"requests-table", "ECS_DEPLOY_REQUESTS_TABLE", "DynamoDB table of request records", &c.RequestsTable, "DeployRequests"},
		{"config-file", "ECS_DEPLOY_CONFIG_FILE", "deploy config file", &c.ConfigFile, ""},
		{"config-sha", "ECS_DEPLOY_CONFIG_SHA", "version of -config-file (default: sha256 of its content)", &c.ConfigSHA, ""},
		{"config-repo", "ECS_DEPLOY_CONFIG_REPO", "git clone holding the deploy config; requests name a commit", &c.ConfigRepo, ""},
		{"config-path", "ECS_DEPLOY_CONFIG_PATH", "the config file within -config-repo", &c.ConfigPath, "deploy-config.json"},
		{"config-branch", "ECS_DEPLOY_CONFIG_BRANCH", "the reviewed branch: a request's config commit must be on it; its head is used when a request names none", &c.ConfigBranch, "main"},
		{"config-allow-any-commit", "ECS_DEPLOY_CONFIG_ALLOW_ANY_COMMIT", "load config commits that are not on -config-branch too", &c.AllowAnyCommit, "false"},
		{"config-fetch-timeout", "ECS_DEPLOY_CONFIG_FETCH_TIMEOUT", "how long a git fetch of -config-repo may take", &c.ConfigFetchTimeout, "30s"},
		{"allow-inline-config", "ECS_DEPLOY_ALLOW_INLINE_CONFIG", "accept configs carried inside requests: their senders run commands with the deploy credentials", &c.AllowInlineConfig, "false"},
		{"artifacts", "ECS_DEPLOY_ARTIFACTS", "ArtifactDB store: a JSON file of artifacts per project (one of -artifacts, -artifact-db-cli, -artifacts-table)", &c.Artifacts, ""},
		{"artifact-db-cli", "ECS_DEPLOY_ARTIFACT_DB_CLI", "ArtifactDB store: the artifact-db tool the original used, a path or a name on PATH; run with this daemon's credentials and --region of its AWS region", &c.ArtifactDBCLI, ""},
		{"artifacts-table", "ECS_DEPLOY_ARTIFACTS_TABLE", "ArtifactDB store: a DynamoDB table of builds (CI registers them with enqueue artifact register)", &c.ArtifactsTable, ""},
		{"policy", "ECS_DEPLOY_POLICY", "JSON policy of who may deploy what (required unless -allow-any-sender)", &c.Policy, ""},
		{"allow-any-sender", "ECS_DEPLOY_ALLOW_ANY_SENDER", "run without -policy: any sender may deploy any app to any environment", &c.AllowAnySender, "false"},
		{"concurrency", "ECS_DEPLOY_CONCURRENCY", "deploys of different app/env pairs run at once", &c.Concurrency, "4"},
		{"max-waiting", "ECS_DEPLOY_MAX_WAITING", "requests this daemon holds waiting for a lock while it takes other messages", &c.MaxWaiting, "16"},
		{"roles", "ECS_DEPLOY_ROLES", "roles this process plays, comma-separated: deploy (run deploy requests), slack (tell Slack about deploys), artifactdb (record results in ArtifactDB)", &c.Roles, "deploy"},
		{"credentials", "ECS_DEPLOY_CREDENTIALS", "how deploys get each environment account's credentials: chain (this daemon's own), assume-role (-role-arn-template) or cloudtamer (CLOUDTAMER_* variables)", &c.Credentials, "chain"},
		{"role-arn-template", "ECS_DEPLOY_ROLE_ARN_TEMPLATE", "the role assumed in each environment's account with -credentials assume-role", &c.RoleARNTemplate, credentials.DefaultRoleARNTemplate},
		{"cloudtamer-roles", "ECS_DEPLOY_CLOUDTAMER_ROLES", "IAM roles to ask CloudTamer for, preferred first, comma-separated (-credentials cloudtamer)", &c.CloudTamerRoles, ""},
		{"slack-queue", "ECS_DEPLOY_SLACK_QUEUE", "the slack role's queue of events: name or URL", &c.SlackQueue, "deploy-events-slack"},
		{"slack-dead-letter-queue", "ECS_DEPLOY_SLACK_DEAD_LETTER_QUEUE", "queue for events the slack role rejects (default: <slack-queue>-dlq)", &c.SlackDeadLetter, ""},
		{"slack-routes", "ECS_DEPLOY_SLACK_ROUTES", "JSON file of which apps and environments go to which channel (bot mode needs one)", &c.SlackRoutes, ""},
		{"slack-api-url", "ECS_DEPLOY_SLACK_API_URL", "Slack Web API base URL, for tests (default Slack's)", &c.SlackAPIURL, ""},
		{"slack-threads-table", "ECS_DEPLOY_SLACK_THREADS_TABLE", "DynamoDB table keeping each deploy's Slack message across restarts, bot mode (default: in memory)", &c.SlackThreadsTable, ""},
		{"artifactdb-queue", "ECS_DEPLOY_ARTIFACTDB_QUEUE", "the artifactdb role's queue of events: name or URL", &c.ArtifactDBQueue, "deploy-events-artifactdb"},
		{"artifactdb-dead-letter-queue", "ECS_DEPLOY_ARTIFACTDB_DEAD_LETTER_QUEUE", "queue for events the artifactdb role rejects (default: <artifactdb-queue>-dlq)", &c.ArtifactDBDeadLetter, ""},
		{"listen", "ECS_DEPLOY_LISTEN", "address of /healthz, /readyz and /metrics", &c.Listen, "127.0.0.1:8080"},
		{"create-resources", "ECS_DEPLOY_CREATE_RESOURCES", "create the missing queues, subscriptions, topic and tables of this daemon's roles (local use only)", &c.CreateResources, "false"},
		{"visibility-timeout", "ECS_DEPLOY_VISIBILITY_TIMEOUT", "how long a message stays hidden, renewed while it is handled (its request waits or runs, Slack answers); a daemon killed mid-deploy is taken over within it and -lock-lease", &c.VisibilityTimeout, "30s"},
		{"max-queue-wait", "ECS_DEPLOY_MAX_QUEUE_WAIT", "how long a request waits for its app and env's lock before it is rejected", &c.MaxQueueWait, "2h"},
		{"order-window", "ECS_DEPLOY_ORDER_WINDOW", "how long after it was sent a request waits before it starts, so one sent just before it goes first", &c.OrderWindow, "500ms"},
		{"shutdown-timeout", "ECS_DEPLOY_SHUTDOWN_TIMEOUT", "the whole shutdown budget after SIGTERM; running commands are killed 5s (or a fifth) before it ends", &c.ShutdownTimeout, "25s"},
		{"command-timeout", "ECS_DEPLOY_COMMAND_TIMEOUT", "how long each pre-, post- or verify command may run", &c.CommandTimeout, "10m"},
		{"sweep-interval", "ECS_DEPLOY_SWEEP_INTERVAL", "how often final events SNS refused are published again", &c.SweepInterval, "1m"},
		{"poll", "ECS_DEPLOY_POLL", "how often waits ask AWS for progress", &c.Poll, "1s"},
		{"slow-poll", "ECS_DEPLOY_SLOW_POLL", "how often a rollout is polled while its tasks start", &c.SlowPoll, "5s"},
		{"bake-poll", "ECS_DEPLOY_BAKE_POLL", "how often the bake step checks health and alarms", &c.BakePoll, "5s"},
		{"lock-lease", "ECS_DEPLOY_LOCK_LEASE", "how long a lock whose heartbeats stopped stays held", &c.LockLease, "10s"},
		{"lock-heartbeat", "ECS_DEPLOY_LOCK_HEARTBEAT", "how often a held lock is renewed", &c.LockHeartbeat, "1s"},
		{"owner", "ECS_DEPLOY_OWNER", "this daemon's name in locks", &c.Owner, fmt.Sprintf("%s-%d", host, os.Getpid())},
		{"log-format", "ECS_DEPLOY_LOG_FORMAT", "json, console, or auto (console on a terminal)", &c.LogFormat, "auto"},
		{"log-level", "ECS_DEPLOY_LOG_LEVEL", "debug, info, warn or error", &c.LogLevel, "info"},
	}
}

// envOnly are the settings read from the environment alone: secrets, which
// a flag would show to anyone who lists processes.
const envOnly = `
Environment only (secrets stay out of flags, which ps shows):
  ECS_DEPLOY_SLACK_WEBHOOK_URL
    	slack role, webhook mode: the incoming webhook deploys are posted to
  ECS_DEPLOY_SLACK_TOKEN
    	slack role, bot mode: the bot token (chat.postMessage, chat.update); needs -slack-routes
  CLOUDTAMER_BASE_URL, CLOUDTAMER_USERNAME, CLOUDTAMER_PASSWORD, CLOUDTAMER_IDMS_ID, CLOUDTAMER_ADMIN_GROUP_ID
    	-credentials cloudtamer: the CloudTamer (Kion) API and its service account
`

// Roles a daemon plays.
const (
	roleDeploy     = "deploy"
	roleSlack      = "slack"
	roleArtifactDB = "artifactdb"
)

// Parse reads args, falling back to the environment, then to defaults.
func (c *Config) Parse(args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage of daemon:")
		fs.PrintDefaults()
		fmt.Fprint(stderr, envOnly)
	}
	var errs []error
	for _, s := range c.specs() {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		usage := s.usage + " (env " + s.env + ")"
		switch t := s.target.(type) {
		case *string:
			fs.StringVar(t, s.name, def, usage)
		case *bool:
			b, err := strconv.ParseBool(def)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not a boolean", s.env, def))
			}
			fs.BoolVar(t, s.name, b, usage)
		case *int:
			n, err := strconv.Atoi(def)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not a number", s.env, def))
			}
			fs.IntVar(t, s.name, n, usage)
		case *time.Duration:
			d, err := time.ParseDuration(def)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not a duration", s.env, def))
			}
			fs.DurationVar(t, s.name, d, usage)
		}
	}
	if err := fs.Parse(args); err != nil {
		return err // flag.ErrHelp for -h: not a failure
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	errs = append(errs, c.Validate(), c.validateEnv(getenv))
	return errors.Join(errs...)
}

// RoleSet returns the roles -roles names; unknown ones are left out
// (Validate reports them).
func (c *Config) RoleSet() map[string]bool {
	roles := map[string]bool{}
	for _, r := range strings.Split(c.Roles, ",") {
		switch r = strings.TrimSpace(r); r {
		case roleDeploy, roleSlack, roleArtifactDB:
			roles[r] = true
		}
	}
	return roles
}

// Validate reports every flag problem of the roles the daemon plays.
func (c *Config) Validate() error {
	var errs []error
	for _, r := range strings.Split(c.Roles, ",") {
		switch r = strings.TrimSpace(r); r {
		case roleDeploy, roleSlack, roleArtifactDB:
		default:
			errs = append(errs, fmt.Errorf("-roles: unknown role %q; the roles are deploy, slack and artifactdb", r))
		}
	}
	roles := c.RoleSet()
	if c.TopicArn == "" && !c.CreateResources {
		errs = append(errs, errors.New("-topic-arn (ECS_DEPLOY_TOPIC_ARN) is required"))
	}
	if strings.HasSuffix(c.TopicArn, ".fifo") {
		errs = append(errs, fmt.Errorf("-topic-arn %s: FIFO topics are not supported; use a standard topic", c.TopicArn))
	}
	if roles[roleDeploy] {
		errs = append(errs, c.validateDeploy()...)
	}
	if roles[roleDeploy] || roles[roleArtifactDB] {
		if n := count(c.Artifacts != "", c.ArtifactDBCLI != "", c.ArtifactsTable != ""); n != 1 {
			errs = append(errs, fmt.Errorf("the deploy and artifactdb roles need one ArtifactDB store: -artifacts (ECS_DEPLOY_ARTIFACTS), -artifact-db-cli or -artifacts-table; %d are set", n))
		}
	}
	for _, q := range []struct {
		role, flag, queue, dlqFlag, dlq string
	}{
		{roleDeploy, "-queue", c.Queue, "-dead-letter-queue", c.DeadLetterQueue},
		{roleSlack, "-slack-queue", c.SlackQueue, "-slack-dead-letter-queue", c.SlackDeadLetter},
		{roleArtifactDB, "-artifactdb-queue", c.ArtifactDBQueue, "-artifactdb-dead-letter-queue", c.ArtifactDBDeadLetter},
	} {
		if !roles[q.role] || q.queue == "" {
			continue
		}
		if err := sqsx.CheckQueueName(sqsx.QueueName(q.queue)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", q.flag, err))
		} else if q.dlq == "" {
			if _, err := sqsx.DeadLetterName(q.queue); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", q.dlqFlag, err))
			}
		}
	}
	if roles[roleSlack] && c.SlackQueue == "" {
		errs = append(errs, errors.New("-slack-queue (ECS_DEPLOY_SLACK_QUEUE) is required by the slack role"))
	}
	if roles[roleArtifactDB] && c.ArtifactDBQueue == "" {
		errs = append(errs, errors.New("-artifactdb-queue (ECS_DEPLOY_ARTIFACTDB_QUEUE) is required by the artifactdb role"))
	}
	if c.VisibilityTimeout < 3*time.Second || c.VisibilityTimeout > 12*time.Hour {
		errs = append(errs, fmt.Errorf("-visibility-timeout %v must be from 3s to 12h (SQS's most)", c.VisibilityTimeout))
	}
	if c.ShutdownTimeout < time.Second {
		errs = append(errs, fmt.Errorf("-shutdown-timeout %v must be at least 1s", c.ShutdownTimeout))
	}
	switch c.LogFormat {
	case "auto", "json", "console":
	default:
		errs = append(errs, fmt.Errorf("-log-format %q is not auto, json or console", c.LogFormat))
	}
	return errors.Join(errs...)
}

// validateDeploy reports the deploy role's flag problems.
func (c *Config) validateDeploy() []error {
	var errs []error
	if c.Queue == "" {
		errs = append(errs, errors.New("-queue (ECS_DEPLOY_QUEUE) is required"))
	}
	if c.ConfigFile == "" && c.ConfigRepo == "" && !c.AllowInlineConfig {
		errs = append(errs, errors.New("a config source is required: -config-repo, -config-file or -allow-inline-config"))
	}
	if c.ConfigFile != "" && c.ConfigRepo != "" {
		errs = append(errs, errors.New("-config-file and -config-repo cannot both be set"))
	}
	if c.Policy == "" && !c.AllowAnySender {
		errs = append(errs, errors.New("-policy (ECS_DEPLOY_POLICY) is required: it says who may deploy what; -allow-any-sender lets anyone instead"))
	}
	if c.Policy != "" && c.AllowAnySender {
		errs = append(errs, errors.New("-policy and -allow-any-sender exclude each other"))
	}
	switch credentials.Mode(c.Credentials) {
	case credentials.ModeChain:
	case credentials.ModeAssumeRole:
		if _, err := credentials.RoleARN(c.RoleARNTemplate, "123456789012"); err != nil {
			errs = append(errs, fmt.Errorf("-role-arn-template: %w", err))
		}
	case credentials.ModeCloudTamer:
		if c.cloudTamerRoles() == nil {
			errs = append(errs, errors.New("-cloudtamer-roles (ECS_DEPLOY_CLOUDTAMER_ROLES) is required with -credentials cloudtamer: name the IAM roles to ask for, preferred first"))
		}
	default:
		errs = append(errs, fmt.Errorf("-credentials %q is not chain, assume-role or cloudtamer", c.Credentials))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("-concurrency %d must be at least 1", c.Concurrency))
	}
	if c.MaxWaiting < 1 {
		errs = append(errs, fmt.Errorf("-max-waiting %d must be at least 1", c.MaxWaiting))
	}
	if c.MaxQueueWait <= 0 || c.MaxQueueWait > 10*time.Hour {
		errs = append(errs, fmt.Errorf("-max-queue-wait %v must be more than 0 and at most 10h: SQS keeps a message invisible for 12 hours from its receipt, and the deploy needs some", c.MaxQueueWait))
	}
	if c.OrderWindow < 0 || c.CommandTimeout <= 0 || c.SweepInterval <= 0 || c.ConfigFetchTimeout <= 0 {
		errs = append(errs, errors.New("-order-window must not be negative; -command-timeout, -sweep-interval and -config-fetch-timeout must be positive"))
	}
	return errs
}

// validateEnv reports what the roles need from the environment alone. It
// names the variables, never their values.
func (c *Config) validateEnv(getenv func(string) string) error {
	roles := c.RoleSet()
	var errs []error
	if roles[roleSlack] {
		hook, token := getenv("ECS_DEPLOY_SLACK_WEBHOOK_URL"), getenv("ECS_DEPLOY_SLACK_TOKEN")
		switch {
		case hook != "" && token != "":
			errs = append(errs, errors.New("the slack role takes ECS_DEPLOY_SLACK_WEBHOOK_URL or ECS_DEPLOY_SLACK_TOKEN, not both"))
		case token != "" && c.SlackRoutes == "":
			errs = append(errs, errors.New("the slack role in bot mode (ECS_DEPLOY_SLACK_TOKEN) needs -slack-routes: it says which channel gets which deploys"))
		case hook == "" && token == "" && c.SlackRoutes == "":
			errs = append(errs, errors.New("the slack role needs ECS_DEPLOY_SLACK_WEBHOOK_URL or ECS_DEPLOY_SLACK_TOKEN (environment only), or -slack-routes whose routes name webhook_env variables"))
		}
	}
	if roles[roleDeploy] && credentials.Mode(c.Credentials) == credentials.ModeCloudTamer {
		ct, err := credentials.CloudTamerFromEnv(getenv, c.cloudTamerRoles())
		errs = append(errs, err)
		if err == nil {
			if err := ct.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("-credentials cloudtamer: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

func (c *Config) cloudTamerRoles() []string {
	var roles []string
	for _, r := range strings.Split(c.CloudTamerRoles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			roles = append(roles, r)
		}
	}
	return roles
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
