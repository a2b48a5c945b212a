package credentials

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"ecs-deploy/pipeline"
)

// CallerIdentityAPI is what the identity check calls of STS.
type CallerIdentityAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, opts ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

var _ CallerIdentityAPI = (*sts.Client)(nil)

// ErrWrongAccount is returned when credentials belong to another account
// than the environment's. A retry cannot fix it: the pipeline refuses the
// deploy for good.
var ErrWrongAccount = pipeline.ErrWrongAccount

// CheckIdentity asks STS whose credentials api signs with and returns an
// error wrapping ErrWrongAccount, naming both accounts, unless it is want.
func CheckIdentity(ctx context.Context, api CallerIdentityAPI, want string) error {
	out, err := api.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("check the credentials for account %s: sts:GetCallerIdentity: %w", want, err)
	}
	if got := aws.ToString(out.Account); got != want {
		return fmt.Errorf("%w: the environment is in account %s, but the credentials are of account %s (%s)",
			ErrWrongAccount, want, got, aws.ToString(out.Arn))
	}
	return nil
}
