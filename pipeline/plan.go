package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Plan is what a deploy would do, worked out from the config, ArtifactDB and
// the current state of the load balancer and the service.
type Plan struct {
	App, Env  string
	Artifact  Artifact
	ConfigSHA string
	// Serving is the colour serving now; NewColour gets the new task set.
	Serving, NewColour string
	// Remove lists the task sets step 4 would stop and delete.
	Remove []string
	// Keep lists the task sets that stay.
	Keep []string
	// Containers are the rendered container definitions, as JSON.
	Containers []string
	// PreDeploy, Verify and PostDeploy are the rendered commands.
	PreDeploy, Verify, PostDeploy []Command
	// Blocked says why a deploy request would be refused now, if it would.
	Blocked string
}

// Plan works out what a deploy of req would do. It takes no lock and
// changes nothing in AWS.
func (p *Pipeline) Plan(ctx context.Context, req Request) (Plan, error) {
	req.Mode = ModePlan
	if err := req.Validate(); err != nil {
		return Plan{}, permanentError{err}
	}
	r, err := p.newRun(ctx, req)
	if err != nil {
		return Plan{}, err
	}
	a, err := r.findArtifact(ctx)
	if err != nil {
		return Plan{}, err
	}
	r.st = Status{DeployID: req.DeployID, App: req.App, Env: req.Env, Mode: ModePlan, Artifact: a, ConfigSHA: req.ConfigSHA}
	pl := Plan{App: req.App, Env: req.Env, Artifact: a, ConfigSHA: req.ConfigSHA}
	if prev, ok, err := p.cfg.Locker.Status(ctx, r.key); err != nil {
		return Plan{}, err
	} else if ok && !prev.Finished() {
		pl.Blocked = fmt.Sprintf("deploy %s is %s at step %d (%s): a deploy needs resume or start-over", prev.DeployID, prev.State, prev.Step, stepName(prev.Step))
	}
	containers, err := renderContainers(r.app.ContainerDefinitionTemplates, r.templateData(""))
	if err != nil {
		return Plan{}, permanentError{fmt.Errorf("render container definitions: %w", err)}
	}
	for _, c := range containers {
		pl.Containers = append(pl.Containers, fmt.Sprintf("%s: %s", aws.ToString(c.Name), aws.ToString(c.Image)))
	}
	sampleTD := fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:NEXT", p.cfg.Deploy.region(r.env), cmp.Or(r.env.AccountID, p.cfg.Deploy.ConfigAccountID), r.env.Family)
	for _, list := range []struct {
		into *[]Command
		tpl  []CommandTemplate
		td   string
	}{{&pl.PreDeploy, r.app.PreDeployCommandTemplates, ""}, {&pl.Verify, r.app.VerifyCommandTemplates, sampleTD}, {&pl.PostDeploy, r.app.PostDeployCommandTemplates, sampleTD}} {
		for i, t := range list.tpl {
			cmd, err := renderCommand(t, r.templateData(list.td))
			if err != nil {
				return Plan{}, permanentError{fmt.Errorf("command %d: %w", i, err)}
			}
			*list.into = append(*list.into, cmd)
		}
	}
	v, err := r.readColour(ctx)
	if err != nil {
		return Plan{}, err
	}
	pl.Serving, pl.NewColour = v.serving, r.st.NewColour
	servingTG := r.env.TargetGroupARNs[v.serving]
	for _, ts := range v.taskSets {
		arn := aws.ToString(ts.TaskSetArn)
		line := fmt.Sprintf("%s (%s, %d running)", arn, aws.ToString(ts.Status), ts.RunningCount)
		if aws.ToString(ts.Status) == "PRIMARY" || onTargetGroup(ts, servingTG) {
			pl.Keep = append(pl.Keep, line)
		} else {
			pl.Remove = append(pl.Remove, line)
		}
	}
	return pl, nil
}

// String lays the plan out for people.
func (pl Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan: deploy build %d (%s) of %s to %s with config %s\n", pl.Artifact.BuildNumber, pl.Artifact.Value, pl.App, pl.Env, pl.ConfigSHA)
	if pl.Blocked != "" {
		fmt.Fprintf(&b, "  blocked: %s\n", pl.Blocked)
	}
	fmt.Fprintf(&b, "  %s serves now; the new task set goes on %s\n", pl.Serving, pl.NewColour)
	for _, c := range pl.PreDeploy {
		fmt.Fprintf(&b, "  pre-deploy: %s %s\n", c.Program, strings.Join(c.Args, " "))
	}
	for _, s := range pl.Keep {
		fmt.Fprintf(&b, "  keep: %s\n", s)
	}
	for _, s := range pl.Remove {
		fmt.Fprintf(&b, "  remove: %s\n", s)
	}
	for _, c := range pl.Containers {
		fmt.Fprintf(&b, "  container %s\n", c)
	}
	for _, c := range pl.Verify {
		fmt.Fprintf(&b, "  verify: %s %s\n", c.Program, strings.Join(c.Args, " "))
	}
	fmt.Fprintf(&b, "  swap traffic to %s, make the new task set PRIMARY, keep the old one ACTIVE\n", pl.NewColour)
	for _, c := range pl.PostDeploy {
		fmt.Fprintf(&b, "  post-deploy: %s %s\n", c.Program, strings.Join(c.Args, " "))
	}
	return b.String()
}
