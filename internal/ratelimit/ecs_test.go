package ratelimit_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/ratelimit"
)

// simClock is the emulator's simulated time.
type simClock struct{ sim *awsim.Server }

func (c simClock) Now() time.Time { return c.sim.Now() }

func (c simClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(c.sim.RealDuration(d))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestECSLimitsKeepUnderAWSRates: 60 reads at once, from many goroutines
// sharing the account's buckets, all go through against an emulator that
// throttles (here a bucket of 10 at 5 a second), without one
// ThrottlingException; without the buckets the same burst is throttled.
func TestECSLimitsKeepUnderAWSRates(t *testing.T) {
	for _, limited := range []bool{true, false} {
		t.Run(map[bool]string{true: "limited", false: "unlimited"}[limited], func(t *testing.T) {
			sim, err := awsim.New(awsim.Config{TimeScale: 10})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(sim)
			t.Cleanup(srv.Close)
			sd, err := sim.Seed(awsim.Scenario{Name: "rl"})
			if err != nil {
				t.Fatal(err)
			}
			sim.SetThrottling(&awsim.Throttling{Read: awsim.Bucket{Burst: 10, Rate: 5}})
			var opts []func(*ecs.Options)
			if limited {
				opts = append(opts, ratelimit.New(ratelimit.Config{Clock: simClock{sim}, Read: ratelimit.Bucket{Burst: 8, Rate: 4}}).ECS(sd.AccountID, sd.Region))
			}
			client := ecs.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
				Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")}, opts...)
			var wg sync.WaitGroup
			var mu sync.Mutex
			failed := 0
			for range 60 {
				wg.Go(func() {
					_, err := client.DescribeServices(t.Context(), &ecs.DescribeServicesInput{Cluster: &sd.Cluster, Services: []string{sd.Service}})
					if err != nil {
						mu.Lock()
						failed++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			throttled := sim.Throttled()["DescribeServices"]
			if limited && (throttled != 0 || failed != 0) {
				t.Fatalf("with the buckets: %d throttled, %d failed", throttled, failed)
			}
			if !limited && throttled == 0 {
				t.Fatal("without the buckets nothing was throttled: the test proves nothing")
			}
		})
	}
}
