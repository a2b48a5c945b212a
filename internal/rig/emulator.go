package rig

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"ecs-deploy/internal/awsim"
	"ecs-deploy/internal/faults"
)

// Emulator is an awsim server of the rig, with a front for each service
// the daemons call.
type Emulator struct {
	Sim *awsim.Server
	// URL is the emulator itself, without a front.
	URL string
	// ECSFaults and ELBFaults are injected between the daemons and ECS
	// and ELBv2. Empty at first.
	ECSFaults, ELBFaults *faults.Injector
	// ECS and ELB are clients straight to the emulator, for the rig's
	// own reads: not counted, never faulted.
	ECS *ecs.Client
	ELB *elb.Client

	ecsFront, elbFront, cloudWatchFront string
}

// NewEmulator starts an emulator with cfg and its fronts, served until
// the rig closes.
func (r *Rig) NewEmulator(cfg awsim.Config) (*Emulator, error) {
	sim, err := awsim.New(cfg)
	if err != nil {
		return nil, err
	}
	e := &Emulator{Sim: sim, ECSFaults: faults.NewInjector(17), ELBFaults: faults.NewInjector(19)}
	if e.URL, err = r.Serve(sim); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		url *string
		in  *faults.Injector
	}{{&e.ecsFront, e.ECSFaults}, {&e.elbFront, e.ELBFaults}, {&e.cloudWatchFront, faults.NewInjector(23)}} {
		h, err := front(e.URL, r.Calls, f.in, nil)
		if err != nil {
			return nil, err
		}
		if *f.url, err = r.Serve(h); err != nil {
			return nil, err
		}
	}
	c := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(RigKey, "rig-secret", ""),
		BaseEndpoint: aws.String(e.URL)}
	e.ECS, e.ELB = ecs.NewFromConfig(c), elb.NewFromConfig(c)
	return e, nil
}
