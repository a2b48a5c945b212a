package awsim_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"ecs-deploy/internal/awsim"
)

// TestLimitPages: with pages limited, one call answers part of a list and
// a marker or token for the rest; following it gets everything.
func TestLimitPages(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "pages", DesiredCount: 3})
	resp, err := http.Post(b.url+"/_awsim/paging", "application/json", strings.NewReader(`{"page_limit": 1}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("paging control: %v %v", resp, err)
	}
	resp.Body.Close()
	out, err := b.elb.DescribeRules(b.ctx, &elb.DescribeRulesInput{ListenerArn: &sd.ListenerArn})
	if err != nil || len(out.Rules) != 1 || out.NextMarker == nil {
		t.Fatalf("first page: %d rules, marker %v, %v", len(out.Rules), out.NextMarker, err)
	}
	rules := 0
	for p := elb.NewDescribeRulesPaginator(b.elb, &elb.DescribeRulesInput{ListenerArn: &sd.ListenerArn}); p.HasMorePages(); {
		page, err := p.NextPage(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		rules += len(page.Rules)
	}
	if rules != 3 { // blue, green and the default rule
		t.Fatalf("%d rules over all pages, want 3", rules)
	}
	tasks := 0
	for p := ecs.NewListTasksPaginator(b.ecs, &ecs.ListTasksInput{Cluster: &sd.Cluster}); p.HasMorePages(); {
		page, err := p.NextPage(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.TaskArns) > 1 {
			t.Fatalf("a page of %d tasks", len(page.TaskArns))
		}
		tasks += len(page.TaskArns)
	}
	if tasks != 3 {
		t.Fatalf("%d tasks over all pages, want 3", tasks)
	}
	if err := b.sim.LimitPages(-1); err == nil {
		t.Fatal("a negative page limit was taken")
	}
}
