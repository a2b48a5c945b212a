package awsim_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"ecs-deploy/internal/awsim"
)

// TestELBPaging: DescribeTargetGroups and DescribeRules page with PageSize
// (1 to 400) and Marker/NextMarker, as the SDK paginators expect.
func TestELBPaging(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "pg"})
	b.seed(t, awsim.Scenario{Name: "pg2"})

	var names []string
	p := elb.NewDescribeTargetGroupsPaginator(b.elb, &elb.DescribeTargetGroupsInput{PageSize: aws.Int32(1)})
	for p.HasMorePages() {
		out, err := p.NextPage(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.TargetGroups) != 1 {
			t.Fatalf("page of %d target groups, want 1", len(out.TargetGroups))
		}
		names = append(names, *out.TargetGroups[0].TargetGroupName)
	}
	if len(names) != 4 || names[0] != "pg-blue" || names[3] != "pg2-green" {
		t.Fatalf("paged target groups: %v", names)
	}

	first, err := b.elb.DescribeRules(b.ctx, &elb.DescribeRulesInput{ListenerArn: &sd.ListenerArn, PageSize: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	rest, err := b.elb.DescribeRules(b.ctx, &elb.DescribeRulesInput{ListenerArn: &sd.ListenerArn, PageSize: aws.Int32(2), Marker: first.NextMarker})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Rules) != 2 || first.NextMarker == nil || len(rest.Rules) != 1 || rest.NextMarker != nil || !aws.ToBool(rest.Rules[0].IsDefault) {
		t.Fatalf("rules paged by 2: %d then %d (default last: %v)", len(first.Rules), len(rest.Rules), rest.Rules)
	}

	for _, c := range []struct {
		name string
		call func() error
		msg  string
	}{
		{"DescribeTargetGroups PageSize 401", func() error {
			_, err := b.elb.DescribeTargetGroups(b.ctx, &elb.DescribeTargetGroupsInput{PageSize: aws.Int32(401)})
			return err
		}, "1 validation error detected: Value '401' at 'pageSize' failed to satisfy constraint: Member must have value less than or equal to 400"},
		{"DescribeRules PageSize 0", func() error {
			_, err := b.elb.DescribeRules(b.ctx, &elb.DescribeRulesInput{ListenerArn: &sd.ListenerArn, PageSize: aws.Int32(0)})
			return err
		}, "1 validation error detected: Value '0' at 'pageSize' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"RegisterTargets port 0", func() error {
			_, err := b.elb.RegisterTargets(b.ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(sd.TargetGroupArns["green"]),
				Targets: []elbtypes.TargetDescription{{Id: aws.String("10.1.1.1"), Port: aws.Int32(0)}}})
			return err
		}, "1 validation error detected: Value '0' at 'targets.1.member.port' failed to satisfy constraint: Member must have value greater than or equal to 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantAPIError(t, c.call(), "ValidationError", c.msg)
		})
	}
}
