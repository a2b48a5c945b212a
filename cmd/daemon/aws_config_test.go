package main

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// TestAWSCallsTriedTenTimes: the daemon's AWS clients try a throttled or
// failing call ten times, unless AWS_MAX_ATTEMPTS says otherwise.
func TestAWSCallsTriedTenTimes(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		want      int
	}{
		{"default", "", 10},
		{"AWS_MAX_ATTEMPTS", "4", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_MAX_ATTEMPTS", tc.env)
			t.Setenv("AWS_CONFIG_FILE", "/dev/null")
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
			cfg, err := loadAWSConfig(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got := ecs.NewFromConfig(cfg).Options().Retryer.MaxAttempts(); got != tc.want {
				t.Fatalf("an ECS client tries a call %d times, want %d", got, tc.want)
			}
		})
	}
}
