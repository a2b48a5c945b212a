package credentials

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"ecs-deploy/internal/ratelimit"
)

// Mode says how credentials for an account are obtained.
type Mode string

const (
	ModeChain      Mode = "chain"
	ModeAssumeRole Mode = "assume-role"
	ModeCloudTamer Mode = "cloudtamer"
)

// STSAPI is what Accounts calls of STS.
type STSAPI interface {
	AssumeRoleAPI
	CallerIdentityAPI
}

var _ STSAPI = (*sts.Client)(nil)

// Config sets up Accounts.
type Config struct {
	// Mode picks how credentials are obtained. Default chain.
	Mode Mode
	// Base is the daemon's own configuration (config.LoadDefaultConfig):
	// its credentials are the chain mode's, and sign AssumeRole calls.
	// Required.
	Base aws.Config
	// RoleARNTemplate builds the role to assume in an account (assume-role
	// mode). Default DefaultRoleARNTemplate.
	RoleARNTemplate string
	// SessionName names the assumed role's sessions. Default "ecs-deploy".
	SessionName string
	// RoleDuration is how long assumed credentials last. Default 1h.
	RoleDuration time.Duration
	// ExpiryWindow renews assumed credentials this long before they
	// expire. Default 5m.
	ExpiryWindow time.Duration
	// CloudTamer gives the credentials in cloudtamer mode. Required there.
	CloudTamer *CloudTamer
	// STS returns an STS client for a configuration. Default sts.NewFromConfig.
	STS func(cfg aws.Config) STSAPI
	// Limits, when set, keeps ECS calls under AWS's rates, with buckets
	// per account and region shared by every deploy. Default none.
	Limits *ratelimit.Limits
}

func (c *Config) setDefaults() {
	if c.Mode == "" {
		c.Mode = ModeChain
	}
	if c.RoleARNTemplate == "" {
		c.RoleARNTemplate = DefaultRoleARNTemplate
	}
	if c.SessionName == "" {
		c.SessionName = "ecs-deploy"
	}
	if c.RoleDuration == 0 {
		c.RoleDuration = time.Hour
	}
	if c.ExpiryWindow == 0 {
		c.ExpiryWindow = 5 * time.Minute
	}
	if c.STS == nil {
		c.STS = func(cfg aws.Config) STSAPI { return sts.NewFromConfig(cfg) }
	}
}

// Validate reports every missing or bad field.
func (c Config) Validate() error {
	var errs []error
	switch c.Mode {
	case ModeChain:
	case ModeAssumeRole:
		if _, err := RoleARN(c.RoleARNTemplate, "123456789012"); err != nil {
			errs = append(errs, fmt.Errorf("credentials.Config.RoleARNTemplate: %w", err))
		}
	case ModeCloudTamer:
		if c.CloudTamer == nil {
			errs = append(errs, errors.New("credentials.Config.CloudTamer is nil in cloudtamer mode"))
		}
	default:
		errs = append(errs, fmt.Errorf("credentials.Config.Mode is %q, want chain, assume-role or cloudtamer", c.Mode))
	}
	if c.Mode != ModeCloudTamer && c.Base.Credentials == nil {
		errs = append(errs, errors.New("credentials.Config.Base has no credentials"))
	}
	return errors.Join(errs...)
}

// Accounts gives SDK configurations per account and region, each signing
// with that account's credentials. Configurations and credential providers
// are made once and kept: a provider caches its credentials until shortly
// before they expire.
type Accounts struct {
	cfg Config

	mu        sync.Mutex
	providers map[string]aws.CredentialsProvider
	configs   map[[2]string]aws.Config
}

// New returns Accounts.
func New(cfg Config) (*Accounts, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Accounts{cfg: cfg, providers: map[string]aws.CredentialsProvider{}, configs: map[[2]string]aws.Config{}}, nil
}

// Config returns the SDK configuration for an account and region.
func (a *Accounts) Config(_ context.Context, account, region string) (aws.Config, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := [2]string{account, region}
	if c, ok := a.configs[key]; ok {
		return c, nil
	}
	p, err := a.provider(account)
	if err != nil {
		return aws.Config{}, err
	}
	c := a.cfg.Base.Copy()
	if region != "" {
		c.Region = region
	}
	c.Credentials = p
	a.configs[key] = c
	return c, nil
}

// provider returns the account's credentials provider; a.mu is held.
func (a *Accounts) provider(account string) (aws.CredentialsProvider, error) {
	if p, ok := a.providers[account]; ok {
		return p, nil
	}
	var p aws.CredentialsProvider
	switch a.cfg.Mode {
	case ModeChain:
		p = a.cfg.Base.Credentials
	case ModeAssumeRole:
		arn, err := RoleARN(a.cfg.RoleARNTemplate, account)
		if err != nil {
			return nil, err
		}
		base := a.cfg.Base.Copy()
		if base.Region == "" {
			base.Region = "us-east-1"
		}
		p = AssumeRoleProvider(a.cfg.STS(base), arn, a.cfg.SessionName, a.cfg.RoleDuration, a.cfg.ExpiryWindow)
	case ModeCloudTamer:
		if !accountID.MatchString(account) {
			return nil, fmt.Errorf("CloudTamer credentials: %q is not a 12-digit account ID", account)
		}
		p = a.cfg.CloudTamer.Provider(account)
	}
	a.providers[account] = p
	return p, nil
}

// CommandEnv returns the variables that give a command run for an account
// its credentials and region: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN (when there is one) and AWS_REGION. In assume-role and
// cloudtamer modes these are the account's, never the daemon's own.
func (a *Accounts) CommandEnv(ctx context.Context, account, region string) ([]string, error) {
	c, err := a.Config(ctx, account, region)
	if err != nil {
		return nil, err
	}
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials for account %s: %w", account, err)
	}
	env := []string{"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey}
	if creds.SessionToken != "" {
		env = append(env, "AWS_SESSION_TOKEN="+creds.SessionToken)
	}
	if c.Region != "" {
		env = append(env, "AWS_REGION="+c.Region)
	}
	return env, nil
}

// CommandEnvFunc binds CommandEnv to an account and region, in the shape
// pipeline.Clients.CommandEnv and artifactdb.CLIConfig.Env take.
func (a *Accounts) CommandEnvFunc(account, region string) func(ctx context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) { return a.CommandEnv(ctx, account, region) }
}

// Check confirms with sts:GetCallerIdentity that the account's credentials
// are that account's; otherwise the error wraps ErrWrongAccount and names
// both accounts. An environment that names no account is not checked.
func (a *Accounts) Check(ctx context.Context, account, region string) error {
	if account == "" {
		return nil
	}
	c, err := a.Config(ctx, account, region)
	if err != nil {
		return err
	}
	return CheckIdentity(ctx, a.cfg.STS(c), account)
}
