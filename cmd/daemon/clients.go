package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"ecs-deploy/internal/artifactdb"
	"ecs-deploy/internal/credentials"
	"ecs-deploy/internal/ratelimit"
)

// home is the daemon's own AWS: its configuration from the standard chain,
// and the clients of the services it keeps its state in. The daemon runs
// in the config account (ConfigAccountID) and region (ConfigRegion), as
// the original tool's state lived there: the lock and request tables,
// ArtifactDB and the queues are reached with these, never with an
// environment account's credentials.
type home struct {
	cfg aws.Config
	sqs *sqs.Client
	sns *sns.Client
	ddb *dynamodb.Client
	// own gives commands (the artifact-db tool) the daemon's own
	// credentials, and nothing else of its environment.
	own *credentials.Accounts
	// account is the daemon's account (sts:GetCallerIdentity), known once
	// identify has run.
	account string
}

func loadHome(ctx context.Context) (*home, error) {
	cfg, err := loadAWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	own, err := credentials.New(credentials.Config{Mode: credentials.ModeChain, Base: cfg})
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	return &home{cfg: cfg, sqs: sqs.NewFromConfig(cfg), sns: sns.NewFromConfig(cfg), ddb: dynamodb.NewFromConfig(cfg), own: own}, nil
}

// identify asks STS which account the daemon's own credentials are of.
func (h *home) identify(ctx context.Context) error {
	out, err := sts.NewFromConfig(h.cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("the daemon's own account: sts:GetCallerIdentity: %w", err)
	}
	h.account = aws.ToString(out.Account)
	return nil
}

// accounts returns the credentials deploys use for each environment's
// account (-credentials), with ECS calls kept under AWS's rates by buckets
// per account and region shared by every deploy of this daemon.
func (m *Main) accounts(h *home) (*credentials.Accounts, error) {
	c := m.Config
	cfg := credentials.Config{Mode: credentials.Mode(c.Credentials), Base: h.cfg, RoleARNTemplate: c.RoleARNTemplate,
		Limits: ratelimit.New(ratelimit.Config{})}
	if cfg.Mode == credentials.ModeCloudTamer {
		ctCfg, err := credentials.CloudTamerFromEnv(m.getenv, c.cloudTamerRoles())
		if err != nil {
			return nil, err
		}
		ct, err := credentials.NewCloudTamer(ctCfg)
		if err != nil {
			return nil, err
		}
		cfg.CloudTamer = ct
	}
	return credentials.New(cfg)
}

// artifactStore is the ArtifactDB store -artifacts, -artifact-db-cli or
// -artifacts-table names, in the daemon's own account and region. With
// -create-resources the table is created.
func (m *Main) artifactStore(ctx context.Context, h *home) (artifactdb.Store, error) {
	c := m.Config
	switch {
	case c.ArtifactsTable != "":
		store := artifactdb.Dynamo{DB: h.ddb, Table: c.ArtifactsTable}
		if c.CreateResources {
			if err := store.CreateTable(ctx, h.ddb); err != nil {
				return nil, err
			}
		}
		return store, nil
	case c.ArtifactDBCLI != "":
		return artifactdb.NewCLI(artifactdb.CLIConfig{Path: c.ArtifactDBCLI, Region: h.cfg.Region,
			Env: h.own.CommandEnvFunc(h.account, h.cfg.Region)})
	case c.Artifacts != "":
		return artifactdb.File{Path: c.Artifacts}, nil
	}
	return nil, errors.New("no ArtifactDB store: set -artifacts, -artifact-db-cli or -artifacts-table")
}

// storeName says which ArtifactDB store the flags name, for the log.
func (c Config) storeName() string {
	switch {
	case c.ArtifactsTable != "":
		return "DynamoDB table " + c.ArtifactsTable
	case c.ArtifactDBCLI != "":
		return "artifact-db tool " + c.ArtifactDBCLI
	}
	return "file " + c.Artifacts
}

// maxAttempts is how many times an AWS call is tried, with the SDK's
// exponential backoff (up to 20s) between tries, unless AWS_MAX_ATTEMPTS
// says otherwise. The SDK's own default, 3, gives up on a call that ECS
// throttles three times in a row: a deploy then stops where it is, after
// the swap perhaps, and waits for an operator's resume.
const maxAttempts = 10

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
