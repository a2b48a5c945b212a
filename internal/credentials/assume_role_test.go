package credentials_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"ecs-deploy/internal/credentials"
)

// fakeSTS assumes roles and says whose credentials a config signs with.
// The account of a key is what follows its "ASIA" or "AKIA" prefix.
type fakeSTS struct {
	ttl   time.Duration
	owner map[string]string // access key: account, to make a key lie
	cfg   aws.Config        // the config this client was made from
}

func (f *fakeSTS) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	account := strings.Split(aws.ToString(in.RoleArn), ":")[4]
	return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{AccessKeyId: aws.String("ASIA" + account),
		SecretAccessKey: aws.String("assumed-secret"), SessionToken: aws.String("assumed-session"),
		Expiration: aws.Time(time.Now().Add(f.ttl))}}, nil
}

func (f *fakeSTS) GetCallerIdentity(ctx context.Context, _ *sts.GetCallerIdentityInput, _ ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	cr, err := f.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	account := cr.AccessKeyID[4:]
	if a, ok := f.owner[cr.AccessKeyID]; ok {
		account = a
	}
	return &sts.GetCallerIdentityOutput{Account: aws.String(account), Arn: aws.String("arn:aws:sts::" + account + ":assumed-role/x/y")}, nil
}

func TestRoleARN(t *testing.T) {
	for _, c := range []struct{ tmpl, account, want, err string }{
		{credentials.DefaultRoleARNTemplate, "111111111111", "arn:aws:iam::111111111111:role/ecs-deploy", ""},
		{"arn:aws-us-gov:iam::{{.Account}}:role/deploy/{{.Account}}-ecs", "222222222222", "arn:aws-us-gov:iam::222222222222:role/deploy/222222222222-ecs", ""},
		{credentials.DefaultRoleARNTemplate, "1234", "", "not a 12-digit account ID"},
		{"arn:aws:iam::{{.Acount}}:role/x", "111111111111", "", "can't evaluate field Acount"},
		{"ecs-deploy", "111111111111", "", "not a role ARN"},
	} {
		got, err := credentials.RoleARN(c.tmpl, c.account)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("RoleARN(%q, %q) = %q, %v; want %q, %q", c.tmpl, c.account, got, err, c.want, c.err)
		}
	}
}

// TestAssumeRoleProvider covers the template, the caching per account and
// the commands' environment with a fake STS; the test against the
// emulator's STS comes with it.
func TestAssumeRoleProvider(t *testing.T) {
	base := aws.Config{Region: "us-east-1", Credentials: awscreds.NewStaticCredentialsProvider("AKIA999999999999", "daemon-secret", "")}
	// One fake records every AssumeRole, whichever config made the client.
	var mu sync.Mutex
	var assumed []string
	ttl := time.Hour
	owner := map[string]string{}
	newAccounts := func() *credentials.Accounts {
		a, err := credentials.New(credentials.Config{Mode: credentials.ModeAssumeRole, Base: base, SessionName: "deployer",
			STS: func(cfg aws.Config) credentials.STSAPI {
				return &recordingSTS{fakeSTS: &fakeSTS{ttl: ttl, cfg: cfg, owner: owner}, mu: &mu, log: &assumed}
			}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ctx := t.Context()
	retrieve := func(a *credentials.Accounts, account, region string) aws.Credentials {
		t.Helper()
		cfg, err := a.Config(ctx, account, region)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Region != region {
			t.Fatalf("config for %s has region %s", region, cfg.Region)
		}
		cr, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return cr
	}
	calls := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(assumed)
	}

	t.Run("cached per account until shortly before expiry", func(t *testing.T) {
		assumed, ttl = nil, time.Hour
		a := newAccounts()
		if cr := retrieve(a, "111111111111", "us-east-1"); cr.AccessKeyID != "ASIA111111111111" {
			t.Fatalf("credentials %+v", cr)
		}
		retrieve(a, "111111111111", "us-west-2") // another region, the same account
		retrieve(a, "222222222222", "us-east-1")
		retrieve(a, "111111111111", "us-east-1")
		want := []string{"arn:aws:iam::111111111111:role/ecs-deploy as deployer", "arn:aws:iam::222222222222:role/ecs-deploy as deployer"}
		if got := calls(); !slices.Equal(got, want) {
			t.Fatalf("AssumeRole calls %q, want %q", got, want)
		}
	})

	t.Run("credentials inside the expiry window are renewed", func(t *testing.T) {
		assumed, ttl = nil, 2*time.Minute // within the 5m window at once
		a := newAccounts()
		retrieve(a, "111111111111", "us-east-1")
		retrieve(a, "111111111111", "us-east-1")
		if got := calls(); len(got) != 2 {
			t.Fatalf("AssumeRole calls %q; want one per Retrieve", got)
		}
	})

	t.Run("commands get the account's credentials, not the daemon's", func(t *testing.T) {
		assumed, ttl = nil, time.Hour
		env, err := newAccounts().CommandEnv(ctx, "222222222222", "eu-west-1")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"AWS_ACCESS_KEY_ID=ASIA222222222222", "AWS_SECRET_ACCESS_KEY=assumed-secret", "AWS_SESSION_TOKEN=assumed-session", "AWS_REGION=eu-west-1"}
		if !slices.Equal(env, want) {
			t.Fatalf("env %q, want %q", env, want)
		}
	})

	t.Run("the identity check", func(t *testing.T) {
		assumed, ttl = nil, time.Hour
		a := newAccounts()
		if err := a.Check(ctx, "111111111111", "us-east-1"); err != nil {
			t.Fatal(err)
		}
		owner["ASIA222222222222"] = "333333333333" // the role lives elsewhere
		err := a.Check(ctx, "222222222222", "us-east-1")
		if !errors.Is(err, credentials.ErrWrongAccount) || !strings.Contains(err.Error(), "account 222222222222") || !strings.Contains(err.Error(), "account 333333333333") {
			t.Fatalf("Check = %v; want ErrWrongAccount naming both accounts", err)
		}
		if _, err := a.ClientsFunc(true)(ctx, "222222222222", "us-east-1"); !errors.Is(err, credentials.ErrWrongAccount) {
			t.Fatalf("ClientsFunc with the check = %v", err)
		}
		c, err := a.ClientsFunc(true)(ctx, "111111111111", "us-east-1")
		if err != nil || c.ECS == nil || c.ELB == nil || c.CloudWatch == nil || c.CommandEnv == nil {
			t.Fatalf("ClientsFunc = %+v, %v", c, err)
		}
	})
}

// recordingSTS logs every AssumeRole into one shared list.
type recordingSTS struct {
	*fakeSTS
	mu  *sync.Mutex
	log *[]string
}

func (r *recordingSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, opts ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	r.mu.Lock()
	*r.log = append(*r.log, aws.ToString(in.RoleArn)+" as "+aws.ToString(in.RoleSessionName))
	r.mu.Unlock()
	return r.fakeSTS.AssumeRole(ctx, in, opts...)
}

func TestChainMode(t *testing.T) {
	base := aws.Config{Region: "us-east-1", Credentials: awscreds.NewStaticCredentialsProvider("AKIA111111111111", "daemon-secret", "")}
	a, err := credentials.New(credentials.Config{Base: base,
		STS: func(cfg aws.Config) credentials.STSAPI { return &fakeSTS{cfg: cfg} }})
	if err != nil {
		t.Fatal(err)
	}
	env, err := a.CommandEnv(t.Context(), "111111111111", "us-west-2")
	if err != nil || !slices.Equal(env, []string{"AWS_ACCESS_KEY_ID=AKIA111111111111", "AWS_SECRET_ACCESS_KEY=daemon-secret", "AWS_REGION=us-west-2"}) {
		t.Fatalf("env %q, %v", env, err)
	}
	// The daemon's own credentials cannot reach another account.
	if err := a.Check(t.Context(), "222222222222", "us-east-1"); !errors.Is(err, credentials.ErrWrongAccount) {
		t.Fatalf("Check = %v", err)
	}
	if _, err := credentials.New(credentials.Config{Mode: "sso", Base: base}); err == nil || !strings.Contains(err.Error(), `Mode is "sso"`) {
		t.Fatalf("a bad mode: %v", err)
	}
}
