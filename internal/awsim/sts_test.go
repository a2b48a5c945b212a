package awsim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"ecs-deploy/internal/awsim"
)

func stsClient(url string, creds aws.CredentialsProvider) *sts.Client {
	cfg := sdkConfig(url, 1)
	cfg.Credentials = creds
	return sts.NewFromConfig(cfg)
}

// TestSTSAccounts: the access key a request is signed with picks the
// account that serves it; AssumeRole gives the credentials of a role in
// another account, which see that account's resources and none of the
// first's, until they expire.
func TestSTSAccounts(t *testing.T) {
	const other = "222233334444"
	b := newBed(t, awsim.Config{AccessKeys: map[string]string{"AKIDOTHER": other}})
	ctx := b.ctx
	mine := b.seed(t, awsim.Scenario{Name: "mine"})
	second, err := b.sim.Account(other)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := second.Seed(awsim.Scenario{Name: "theirs"})
	if err != nil {
		t.Fatal(err)
	}
	if theirs.AccountID != other || theirs.ServiceArn != "arn:aws:ecs:us-east-1:"+other+":service/theirs/theirs" {
		t.Fatalf("seeded in the other account: %+v", theirs)
	}

	base := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	id, err := stsClient(b.url, base).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != "123456789012" {
		t.Fatalf("caller with the default key: %+v %v", id, err)
	}
	id, err = stsClient(b.url, credentials.NewStaticCredentialsProvider("AKIDOTHER", "secret", "")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != other {
		t.Fatalf("caller with the other account's key: %+v %v", id, err)
	}

	role := "arn:aws:iam::" + other + ":role/ecs-deploy"
	out, err := stsClient(b.url, base).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("deploy-1")})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	assumed := credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	id, err = stsClient(b.url, assumed).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != other || aws.ToString(id.Arn) != "arn:aws:sts::"+other+":assumed-role/ecs-deploy/deploy-1" {
		t.Fatalf("caller with the role's credentials: %+v %v", id, err)
	}
	cfg := sdkConfig(b.url, 1)
	cfg.Credentials = assumed
	asRole := ecs.NewFromConfig(cfg)
	svcs, err := asRole.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("theirs"), Services: []string{"theirs"}})
	if err != nil || len(svcs.Services) != 1 {
		t.Fatalf("the other account's service through the role: %+v %v", svcs, err)
	}
	if _, err := asRole.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: &mine.Cluster, Services: []string{mine.Service}}); !isCode(err, "ClusterNotFoundException") {
		t.Fatalf("the first account's cluster through the role: %v", err)
	}

	// The credentials last an hour of simulated time.
	b.sim.Advance(61 * time.Minute)
	if _, err := stsClient(b.url, assumed).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); !isCode(err, "ExpiredTokenException") {
		t.Fatalf("expired credentials: %v", err)
	}
}

// TestAssumeRoleRefusals: AssumeRole refuses what AWS refuses.
func TestAssumeRoleRefusals(t *testing.T) {
	b := newBed(t, awsim.Config{})
	client := stsClient(b.url, credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""))
	for _, c := range []struct {
		name, role, session string
		duration            int32
		code, message       string
	}{
		{"unknown account", "arn:aws:iam::999988887777:role/ecs-deploy", "s1", 0, "AccessDenied",
			"User: arn:aws:iam::123456789012:user/emulated is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::999988887777:role/ecs-deploy"},
		{"not a role ARN", "arn:aws:iam::123456789012:user/me", "s1", 0, "ValidationError",
			"1 validation error detected: Value 'arn:aws:iam::123456789012:user/me' at 'roleArn' failed to satisfy constraint: Member must satisfy the ARN format of an IAM role"},
		{"session name", "arn:aws:iam::123456789012:role/r", "bad name", 0, "ValidationError",
			"1 validation error detected: Value 'bad name' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"},
		{"duration", "arn:aws:iam::123456789012:role/r", "s1", 60, "ValidationError",
			"1 validation error detected: Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := &sts.AssumeRoleInput{RoleArn: aws.String(c.role), RoleSessionName: aws.String(c.session)}
			if c.duration > 0 {
				in.DurationSeconds = aws.Int32(c.duration)
			}
			_, err := client.AssumeRole(context.Background(), in)
			wantAPIError(t, err, c.code, c.message)
		})
	}
}

func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}
