package awsim_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"ecs-deploy/internal/awsim"
)

func (b *bed) putComposite(t *testing.T, name, rule string) {
	t.Helper()
	if _, err := b.cw.PutCompositeAlarm(b.ctx, &cloudwatch.PutCompositeAlarmInput{AlarmName: &name, AlarmRule: &rule}); err != nil {
		t.Fatal(err)
	}
}

func (b *bed) compositeState(t *testing.T, name string) cwtypes.StateValue {
	t.Helper()
	out, err := b.cw.DescribeAlarms(b.ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{name},
		AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeCompositeAlarm}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.CompositeAlarms) != 1 {
		t.Fatalf("composite alarm %s: %+v", name, out.CompositeAlarms)
	}
	return out.CompositeAlarms[0].StateValue
}

// TestCompositeAlarms evaluates composite alarm rules over metric alarms:
// ALARM(), OK(), INSUFFICIENT_DATA(), TRUE, FALSE, NOT, AND, OR and
// parentheses, by name or ARN, quoted or not.
func TestCompositeAlarms(t *testing.T) {
	b := newBed(t, awsim.Config{})
	sd := b.seed(t, awsim.Scenario{Name: "cmp", Alarms: []string{"cpu", "disk", "deploying"}})
	if err := b.sim.SetAlarm("cpu", "ALARM", "high"); err != nil {
		t.Fatal(err)
	}
	if err := b.sim.SetAlarm("unknown-yet", "INSUFFICIENT_DATA", "new"); err != nil {
		t.Fatal(err)
	}
	cpuArn := fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:cpu", sd.Region, sd.AccountID)
	cases := []struct {
		rule string
		want cwtypes.StateValue
	}{
		{"ALARM(cpu)", cwtypes.StateValueAlarm},
		{`ALARM("cpu")`, cwtypes.StateValueAlarm},
		{"ALARM(" + cpuArn + ")", cwtypes.StateValueAlarm},
		{"OK(cpu)", cwtypes.StateValueOk},
		{"ALARM(cpu) AND ALARM(disk)", cwtypes.StateValueOk},
		{"ALARM(cpu) OR ALARM(disk)", cwtypes.StateValueAlarm},
		{"ALARM(cpu) AND NOT ALARM(deploying)", cwtypes.StateValueAlarm},
		{"(ALARM(disk) OR ALARM(cpu)) AND OK(deploying)", cwtypes.StateValueAlarm},
		{"ALARM(disk) OR ALARM(cpu) AND ALARM(deploying)", cwtypes.StateValueOk}, // AND binds first
		{"INSUFFICIENT_DATA(unknown-yet)", cwtypes.StateValueAlarm},
		{"TRUE", cwtypes.StateValueAlarm},
		{"FALSE OR NOT TRUE", cwtypes.StateValueOk},
	}
	for i, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			name := fmt.Sprintf("rule-%d", i)
			b.putComposite(t, name, c.rule)
			if got := b.compositeState(t, name); got != c.want {
				t.Fatalf("%s is %s, want %s", c.rule, got, c.want)
			}
		})
	}

	t.Run("follows its children", func(t *testing.T) {
		b.putComposite(t, "any", "ALARM(cpu) OR ALARM(disk)")
		b.putComposite(t, "outer", "ALARM(any)")
		if _, err := b.cw.SetAlarmState(b.ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("cpu"), StateValue: cwtypes.StateValueOk, StateReason: aws.String("calm")}); err != nil {
			t.Fatal(err)
		}
		if got, outer := b.compositeState(t, "any"), b.compositeState(t, "outer"); got != cwtypes.StateValueOk || outer != cwtypes.StateValueOk {
			t.Fatalf("after cpu went OK: any %s, outer %s; want OK, OK", got, outer)
		}
		// SetAlarmState on a composite alarm holds until a child changes.
		if _, err := b.cw.SetAlarmState(b.ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("any"), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("drill")}); err != nil {
			t.Fatal(err)
		}
		if got, outer := b.compositeState(t, "any"), b.compositeState(t, "outer"); got != cwtypes.StateValueAlarm || outer != cwtypes.StateValueAlarm {
			t.Fatalf("after SetAlarmState: any %s, outer %s; want ALARM, ALARM", got, outer)
		}
		if err := b.sim.SetAlarm("deploying", "ALARM", "unrelated"); err != nil {
			t.Fatal(err)
		}
		if got := b.compositeState(t, "any"); got != cwtypes.StateValueAlarm {
			t.Fatalf("an alarm outside its rule changed: any %s, want ALARM still", got)
		}
		if err := b.sim.SetAlarm("disk", "INSUFFICIENT_DATA", "gap"); err != nil {
			t.Fatal(err)
		}
		if got := b.compositeState(t, "any"); got != cwtypes.StateValueOk {
			t.Fatalf("after a child changed: any %s, want OK", got)
		}
	})

	refused := []struct {
		name, rule, msg string
	}{
		{"missing child", "ALARM(cpu) OR ALARM(gone) OR OK(lost)", "Could not save the composite alarm as alarms [gone, lost] in the alarm rule do not exist"},
		{"dangling AND", "ALARM(cpu) AND", "AlarmRule is not valid: AlarmRule ends early"},
		{"unbalanced", "(ALARM(cpu)", "AlarmRule is not valid: missing ) in AlarmRule"},
		{"leading space", " ALARM(cpu)", "AlarmRule is not valid: AlarmRule must not contain leading or trailing whitespace"},
		{"unknown function", "BROKEN(cpu)", `AlarmRule is not valid: unexpected "BROKEN" in AlarmRule`},
		{"metric alarm name", "TRUE", "Alarm cpu is a metric alarm and cannot be made a composite alarm"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			name := "refused"
			if c.name == "metric alarm name" {
				name = "cpu"
			}
			_, err := b.cw.PutCompositeAlarm(b.ctx, &cloudwatch.PutCompositeAlarmInput{AlarmName: &name, AlarmRule: &c.rule})
			wantAPIError(t, err, "ValidationError", c.msg)
		})
	}
}

// TestDescribeAlarmsFilters: only metric alarms unless AlarmTypes asks for
// composite ones; at most 100 names; MaxRecords from 1 to 100 pages with
// NextToken.
func TestDescribeAlarmsFilters(t *testing.T) {
	b := newBed(t, awsim.Config{})
	names := []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7"}
	b.seed(t, awsim.Scenario{Name: "dsc", Alarms: names})
	b.putComposite(t, "c1", "ALARM(a1)")
	b.putComposite(t, "c2", "OK(a1)")
	count := func(in *cloudwatch.DescribeAlarmsInput) (int, int) {
		t.Helper()
		out, err := b.cw.DescribeAlarms(b.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return len(out.MetricAlarms), len(out.CompositeAlarms)
	}
	for _, c := range []struct {
		name            string
		types           []cwtypes.AlarmType
		metric, compose int
	}{
		{"no AlarmTypes", nil, 7, 0},
		{"MetricAlarm", []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm}, 7, 0},
		{"CompositeAlarm", []cwtypes.AlarmType{cwtypes.AlarmTypeCompositeAlarm}, 0, 2},
		{"both", []cwtypes.AlarmType{cwtypes.AlarmTypeCompositeAlarm, cwtypes.AlarmTypeMetricAlarm}, 7, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			if m, co := count(&cloudwatch.DescribeAlarmsInput{AlarmTypes: c.types}); m != c.metric || co != c.compose {
				t.Fatalf("%d metric, %d composite alarms; want %d, %d", m, co, c.metric, c.compose)
			}
		})
	}

	t.Run("pages", func(t *testing.T) {
		var got []string
		pages := 0
		p := cloudwatch.NewDescribeAlarmsPaginator(b.cw, &cloudwatch.DescribeAlarmsInput{MaxRecords: aws.Int32(3),
			AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeCompositeAlarm, cwtypes.AlarmTypeMetricAlarm}})
		for p.HasMorePages() {
			out, err := p.NextPage(b.ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, a := range out.MetricAlarms {
				got = append(got, *a.AlarmName)
			}
			for _, a := range out.CompositeAlarms {
				got = append(got, *a.AlarmName)
			}
		}
		if pages != 3 || len(got) != 9 {
			t.Fatalf("%d pages holding %v; want 3 pages, 9 alarms", pages, got)
		}
	})

	t.Run("children and parents", func(t *testing.T) {
		b.putComposite(t, "c3", "ALARM(c1) OR ALARM(a2)")
		for _, c := range []struct {
			in   *cloudwatch.DescribeAlarmsInput
			want []string
		}{
			{&cloudwatch.DescribeAlarmsInput{ChildrenOfAlarmName: aws.String("c3")}, []string{"a2", "c1"}},
			{&cloudwatch.DescribeAlarmsInput{ParentsOfAlarmName: aws.String("a1")}, []string{"c1", "c2"}},
			{&cloudwatch.DescribeAlarmsInput{ParentsOfAlarmName: aws.String("c1"), MaxRecords: aws.Int32(10)}, []string{"c3"}},
		} {
			out, err := b.cw.DescribeAlarms(b.ctx, c.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range out.MetricAlarms {
				got = append(got, *a.AlarmName)
			}
			for _, a := range out.CompositeAlarms {
				got = append(got, *a.AlarmName)
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("%+v: %v, want %v", c.in, got, c.want)
			}
		}
		_, err := b.cw.DescribeAlarms(b.ctx, &cloudwatch.DescribeAlarmsInput{ChildrenOfAlarmName: aws.String("c3"), StateValue: cwtypes.StateValueOk})
		wantAPIError(t, err, "ValidationError", "ChildrenOfAlarmName and ParentsOfAlarmName cannot be used with any parameter but MaxRecords and NextToken")
	})

	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("n%d", i)
	}
	refused := []struct {
		name string
		in   *cloudwatch.DescribeAlarmsInput
		code string
		msg  string
	}{
		{"101 names", &cloudwatch.DescribeAlarmsInput{AlarmNames: many}, "ValidationError",
			"1 validation error detected: Value '[" + strings.Join(many, ", ") + "]' at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100"},
		{"MaxRecords 0", &cloudwatch.DescribeAlarmsInput{MaxRecords: aws.Int32(0)}, "ValidationError",
			"1 validation error detected: Value '0' at 'maxRecords' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"MaxRecords 101", &cloudwatch.DescribeAlarmsInput{MaxRecords: aws.Int32(101)}, "ValidationError",
			"1 validation error detected: Value '101' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to 100"},
		{"bad NextToken", &cloudwatch.DescribeAlarmsInput{NextToken: aws.String("page-2")}, "InvalidNextToken",
			`The service cannot process the given NextToken "page-2"`},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.cw.DescribeAlarms(b.ctx, c.in)
			wantAPIError(t, err, c.code, c.msg)
		})
	}
}

// TestDescribeAlarmsDefaultPage: without MaxRecords a page holds 50 alarms.
func TestDescribeAlarmsDefaultPage(t *testing.T) {
	b := newBed(t, awsim.Config{})
	for i := range 51 {
		if err := b.sim.SetAlarm(fmt.Sprintf("alarm-%02d", i), "OK", "fine"); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.cw.DescribeAlarms(b.ctx, &cloudwatch.DescribeAlarmsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.MetricAlarms) != 50 || out.NextToken == nil {
		t.Fatalf("first page: %d alarms, next token %v; want 50 and a token", len(out.MetricAlarms), out.NextToken)
	}
}

// TestSetAlarmStateUnknown: SetAlarmState on an alarm that does not exist is
// ResourceNotFound, HTTP 404, with no message.
func TestSetAlarmStateUnknown(t *testing.T) {
	b := newBed(t, awsim.Config{})
	_, err := b.cw.SetAlarmState(b.ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("none"),
		StateValue: cwtypes.StateValueAlarm, StateReason: aws.String("x")})
	var nf *cwtypes.ResourceNotFound
	var re *smithyhttp.ResponseError
	if !errors.As(err, &nf) || nf.ErrorMessage() != "" || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusNotFound {
		t.Fatalf("err = %v", err)
	}
}

// TestCloudWatchJSON10: answers and errors in the JSON protocol carry the
// JSON 1.0 content type.
func TestCloudWatchJSON10(t *testing.T) {
	b := newBed(t, awsim.Config{})
	b.seed(t, awsim.Scenario{Name: "json"})
	for _, c := range []struct {
		op, body string
		status   int
	}{
		{"DescribeAlarms", `{"AlarmNames":["json-target-5xx"]}`, http.StatusOK},
		{"SetAlarmState", `{"AlarmName":"none","StateValue":"OK","StateReason":"x"}`, http.StatusNotFound},
		{"DescribeAlarms", `{"MaxRecords":500}`, http.StatusBadRequest},
	} {
		t.Run(fmt.Sprint(c.op, c.status), func(t *testing.T) {
			req, _ := http.NewRequestWithContext(b.ctx, http.MethodPost, b.url, strings.NewReader(c.body))
			req.Header.Set("X-Amz-Target", "GraniteServiceVersion20100801."+c.op)
			req.Header.Set("Content-Type", "application/x-amz-json-1.0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
				t.Fatalf("status %d, content type %q, body %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		})
	}
}
