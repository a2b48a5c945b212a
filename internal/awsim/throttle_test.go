package awsim_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"ecs-deploy/internal/awsim"
)

// TestECSThrottling: with throttling on, a request finding its bucket
// empty gets ThrottlingException "Rate exceeded"; the bucket refills with
// simulated time; each account has its own buckets.
func TestECSThrottling(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "thr"})
	b.sim.SetThrottling(&awsim.Throttling{Read: awsim.Bucket{Burst: 3, Rate: 1}})
	once := ecs.NewFromConfig(sdkConfig(b.url, 1))
	describe := func() error {
		_, err := once.DescribeServices(b.ctx, &ecs.DescribeServicesInput{Cluster: &sd.Cluster, Services: []string{sd.Service}})
		return err
	}
	for i := range 3 {
		if err := describe(); err != nil {
			t.Fatalf("request %d of a burst of 3: %v", i+1, err)
		}
	}
	wantAPIError(t, describe(), "ThrottlingException", "Rate exceeded")
	b.sim.Advance(time.Second)
	if err := describe(); err != nil {
		t.Fatalf("after a second's refill: %v", err)
	}
	if n := b.sim.Throttled()["DescribeServices"]; n != 1 {
		t.Fatalf("%d throttled, want 1", n)
	}
	other, err := b.sim.Account("222233334444")
	if err != nil {
		t.Fatal(err)
	}
	if n := other.Throttled(); len(n) != 0 {
		t.Fatalf("the other account was throttled: %v", n)
	}
	b.sim.SetThrottling(nil)
	for range 10 {
		if err := describe(); err != nil {
			t.Fatalf("throttling off: %v", err)
		}
	}
}
