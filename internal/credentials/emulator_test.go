package credentials_test

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/credentials"
)

// TestAssumeRoleCredentials runs against the emulator's STS: the daemon's
// own credentials are in one account; assuming the ecs-deploy role of a
// second account gives clients that see the second account's service,
// commands get the role's keys and not the daemon's, and the identity check
// passes. With the daemon's own credentials (chain mode) the same
// environment is refused, naming both accounts.
func TestAssumeRoleCredentials(t *testing.T) {
	const daemonAccount, envAccount = "111122223333", "444455556666"
	sim, err := awsim.New(awsim.Config{AccountID: daemonAccount, TimeScale: 1e-9})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	second, err := sim.Account(envAccount)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := second.Seed(awsim.Scenario{Name: "far"})
	if err != nil {
		t.Fatal(err)
	}
	base := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: awscreds.NewStaticCredentialsProvider("AKIDDAEMON", "daemon-secret", "")}
	ctx := t.Context()

	roles, err := credentials.New(credentials.Config{Mode: credentials.ModeAssumeRole, Base: base})
	if err != nil {
		t.Fatal(err)
	}
	if err := roles.Check(ctx, envAccount, "us-east-1"); err != nil {
		t.Fatalf("identity check with the assumed role: %v", err)
	}
	cfg, err := roles.Config(ctx, envAccount, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	out, err := ecs.NewFromConfig(cfg).DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: &sd.Cluster, Services: []string{sd.Service}})
	if err != nil || len(out.Services) != 1 || aws.ToString(out.Services[0].ServiceArn) != sd.ServiceArn {
		t.Fatalf("the second account's service through the role: %+v %v", out, err)
	}
	env, err := roles.CommandEnv(ctx, envAccount, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(env, "AWS_ACCESS_KEY_ID=AKIDDAEMON") || !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=ASIA") }) {
		t.Fatalf("commands' credentials: %q", env)
	}

	own, err := credentials.New(credentials.Config{Mode: credentials.ModeChain, Base: base})
	if err != nil {
		t.Fatal(err)
	}
	err = own.Check(ctx, envAccount, "us-east-1")
	if !errors.Is(err, credentials.ErrWrongAccount) || !strings.Contains(err.Error(), envAccount) || !strings.Contains(err.Error(), daemonAccount) {
		t.Fatalf("the daemon's own credentials for the other account: %v", err)
	}
}
