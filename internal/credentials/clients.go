package credentials

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"ecs-deploy/pipeline"
)

// ClientsFunc returns the pipeline's clients for an environment: ECS,
// ELBv2 and CloudWatch signed with the account's credentials (made once
// per account and region), and CommandEnv giving commands the same
// credentials. With check set, every call first confirms the account with
// sts:GetCallerIdentity, so a deploy to an environment whose credentials
// are another account's is refused before it changes anything; the error
// wraps ErrWrongAccount.
func (a *Accounts) ClientsFunc(check bool) pipeline.ClientsFunc {
	var mu sync.Mutex
	cache := map[[2]string]pipeline.Clients{}
	return func(ctx context.Context, account, region string) (pipeline.Clients, error) {
		if check {
			if err := a.Check(ctx, account, region); err != nil {
				return pipeline.Clients{}, err
			}
		}
		mu.Lock()
		defer mu.Unlock()
		key := [2]string{account, region}
		if c, ok := cache[key]; ok {
			return c, nil
		}
		cfg, err := a.Config(ctx, account, region)
		if err != nil {
			return pipeline.Clients{}, fmt.Errorf("AWS configuration for account %s in %s: %w", account, region, err)
		}
		var ecsOpts []func(*ecs.Options)
		if a.cfg.Limits != nil {
			ecsOpts = append(ecsOpts, a.cfg.Limits.ECS(account, region))
		}
		c := pipeline.Clients{
			ECS: ecs.NewFromConfig(cfg, ecsOpts...), ELB: elb.NewFromConfig(cfg), CloudWatch: cloudwatch.NewFromConfig(cfg),
			CommandEnv: a.CommandEnvFunc(account, region),
		}
		cache[key] = c
		return c, nil
	}
}
