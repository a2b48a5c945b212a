package pipeline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

// DeployConfig is the deploy configuration, in the JSON form the original
// ecs-deploy tool read: files written for it load unchanged.
type DeployConfig struct {
	ConfigAccountID string
	ConfigRegion    string
	Apps            map[string]*AppConfig

	// Warnings lists fields the loader did not recognise; they are ignored,
	// as the original tool ignored them.
	Warnings []string `json:"-"`
}

// AppConfig is one application.
type AppConfig struct {
	ArtifactDBProjectName string
	// ContainerDefinitionTemplates are ECS container definitions whose string
	// values are templates. Keys match case-insensitively.
	ContainerDefinitionTemplates []json.RawMessage
	PreDeployCommandTemplates    []CommandTemplate
	PostDeployCommandTemplates   []CommandTemplate
	// VerifyCommandTemplates run at step 8, before traffic moves; a non-zero
	// exit stops the deploy. Default none.
	VerifyCommandTemplates []CommandTemplate
	// PassEnvironment names variables of the daemon's environment passed to
	// commands (for example VPC_CONF_API_KEYS). Default none.
	PassEnvironment []string
	Environments    map[string]*EnvConfig
}

// CommandTemplate is a program and its arguments, each a template. Commands
// run as argv, never through a shell.
type CommandTemplate struct {
	Program   string
	Arguments []string
}

// EnvConfig is one environment of an application.
type EnvConfig struct {
	AccountID string
	Region    string
	// RequiresPreviousEnvDeploy names the environment the same artifact must
	// have been deployed to, with the same config SHA, first. Default "": no
	// gate.
	RequiresPreviousEnvDeploy string
	Cluster                   string
	// Family is the task definition family and the ECS service name.
	Family           string
	CPU              string
	Memory           string
	TaskRoleARN      string
	ExecutionRoleARN string
	SecurityGroups   []string
	Subnets          []string
	ListenerARN      string
	// TargetGroupARNs has the "blue" and "green" target groups.
	TargetGroupARNs map[string]string

	// LaunchType is the task set's launch type. Default "FARGATE" unless
	// CapacityProviderStrategy is set.
	LaunchType               string
	CapacityProviderStrategy []CapacityProvider
	// AssignPublicIP gives tasks a public IP. Default false.
	AssignPublicIP bool
	// BakeTime is how long step 11 watches target health and alarms after
	// the swap. Default 0: one check.
	BakeTime Duration
	// AlarmNames are CloudWatch alarms that, in state ALARM during the bake
	// time, roll the deploy back. Default none.
	AlarmNames []string
	// RolloutTimeout bounds step 7. Default 15 minutes.
	RolloutTimeout Duration
}

// CapacityProvider is one entry of a capacity provider strategy.
type CapacityProvider struct {
	CapacityProvider string
	Weight           int32
	Base             int32
}

// Duration is a time.Duration written in JSON as "90s" or a number of seconds.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration must be a string like \"90s\" or a number of seconds, got %s", b)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

const defaultRolloutTimeout = 15 * time.Minute

// LoadConfigFile reads and checks a deploy config file.
func LoadConfigFile(path string) (*DeployConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, err := LoadConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// LoadConfig reads and checks a deploy config. A *ConfigError lists every
// problem found, each with its JSON path.
func LoadConfig(r io.Reader) (*DeployConfig, error) {
	raw, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, err
	}
	var cfg DeployConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &ConfigError{Problems: []Problem{{Path: "$", Message: describeJSONError(raw, err)}}}
	}
	cfg.Warnings = unknownFields(raw)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func describeJSONError(raw []byte, err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		line := bytes.Count(raw[:e.Offset], []byte("\n")) + 1
		return fmt.Sprintf("invalid JSON at line %d: %v", line, e)
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("field %s: %s is not a valid %s", e.Field, e.Value, e.Type)
	}
	return err.Error()
}

// Problem is one thing wrong with a config, at a JSON path.
type Problem struct {
	Path    string
	Message string
}

// ConfigError lists every problem of a config.
type ConfigError struct {
	Problems []Problem
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deploy config has %d problem(s):", len(e.Problems))
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Path, p.Message)
	}
	return b.String()
}

type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func key(parent, k string) string { return fmt.Sprintf("%s[%q]", parent, k) }

var (
	arnPattern      = regexp.MustCompile(`^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:.+$`)
	accountPattern  = regexp.MustCompile(`^[0-9]{12}$`)
	listenerPattern = regexp.MustCompile(`^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:listener/.+$`)
	tgPattern       = regexp.MustCompile(`^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/.+$`)
	familyPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
)

// Validate reports every problem of the config with its JSON path.
func (c *DeployConfig) Validate() error {
	var ps problems
	if c.ConfigAccountID != "" && !accountPattern.MatchString(c.ConfigAccountID) {
		ps.add("$.ConfigAccountID", "%q is not a 12-digit account ID", c.ConfigAccountID)
	}
	if len(c.Apps) == 0 {
		ps.add("$.Apps", "no apps are configured")
	}
	lockKeys := map[string]string{}
	for _, name := range sortedKeys(c.Apps) {
		app := c.Apps[name]
		path := key("$.Apps", name)
		if app == nil {
			ps.add(path, "is null")
			continue
		}
		app.validate(path, c, &ps)
		for _, env := range sortedKeys(app.Environments) {
			// "a-b"/"c" and "a"/"b-c" would share one deploy lock.
			k := LockKey(name, env)
			if other, taken := lockKeys[k]; taken {
				ps.add(key(path+".Environments", env), "shares the deploy lock %q with %s: rename one", k, other)
			}
			lockKeys[k] = key(path+".Environments", env)
		}
	}
	if len(ps) > 0 {
		return &ConfigError{Problems: ps}
	}
	return nil
}

func (a *AppConfig) validate(path string, c *DeployConfig, ps *problems) {
	if a.ArtifactDBProjectName == "" {
		ps.add(path+".ArtifactDBProjectName", "is required")
	}
	if len(a.ContainerDefinitionTemplates) == 0 {
		ps.add(path+".ContainerDefinitionTemplates", "has no container")
	}
	for i, raw := range a.ContainerDefinitionTemplates {
		validateContainer(fmt.Sprintf("%s.ContainerDefinitionTemplates[%d]", path, i), raw, i == 0, ps)
	}
	for field, cmds := range map[string][]CommandTemplate{
		"PreDeployCommandTemplates": a.PreDeployCommandTemplates, "PostDeployCommandTemplates": a.PostDeployCommandTemplates,
		"VerifyCommandTemplates": a.VerifyCommandTemplates,
	} {
		for i, cmd := range cmds {
			p := fmt.Sprintf("%s.%s[%d]", path, field, i)
			if cmd.Program == "" {
				ps.add(p+".Program", "is required")
			}
			withTaskDef := field != "PreDeployCommandTemplates"
			for j, s := range append([]string{cmd.Program}, cmd.Arguments...) {
				fp := p + ".Program"
				if j > 0 {
					fp = fmt.Sprintf("%s.Arguments[%d]", p, j-1)
				}
				if err := checkTemplate(s, withTaskDef); err != nil {
					ps.add(fp, "%v", err)
				}
			}
		}
	}
	if len(a.Environments) == 0 {
		ps.add(path+".Environments", "no environments are configured")
	}
	for _, name := range sortedKeys(a.Environments) {
		env := a.Environments[name]
		ep := key(path+".Environments", name)
		if env == nil {
			ps.add(ep, "is null")
			continue
		}
		env.validate(ep, a, c, ps)
	}
}

func validateContainer(path string, raw json.RawMessage, first bool, ps *problems) {
	var tree map[string]any
	if err := json.Unmarshal(raw, &tree); err != nil {
		ps.add(path, "is not a JSON object: %v", err)
		return
	}
	for _, f := range []string{"Name", "Image"} {
		if s, _ := lookupFold(tree, f).(string); s == "" {
			ps.add(path+"."+f, "is required")
		}
	}
	ports, _ := lookupFold(tree, "PortMappings").([]any)
	if first && len(ports) != 1 {
		ps.add(path+".PortMappings", "the first container must have exactly one port mapping (the one behind the load balancer), has %d", len(ports))
	}
	if first && len(ports) == 1 {
		m, _ := ports[0].(map[string]any)
		if p, ok := lookupFold(m, "ContainerPort").(float64); !ok || p < 1 || p > 65535 {
			ps.add(path+".PortMappings[0].ContainerPort", "must be a port number from 1 to 65535")
		}
	}
	walkStrings(tree, path, func(p, s string) {
		if err := checkTemplate(s, false); err != nil {
			ps.add(p, "%v", err)
		}
	})
}

func (e *EnvConfig) validate(path string, app *AppConfig, c *DeployConfig, ps *problems) {
	if e.AccountID != "" && !accountPattern.MatchString(e.AccountID) {
		ps.add(path+".AccountID", "%q is not a 12-digit account ID", e.AccountID)
	}
	if e.Region == "" && c.ConfigRegion == "" {
		ps.add(path+".Region", "is required (or set $.ConfigRegion)")
	}
	if e.RequiresPreviousEnvDeploy != "" {
		if _, ok := app.Environments[e.RequiresPreviousEnvDeploy]; !ok {
			ps.add(path+".RequiresPreviousEnvDeploy", "names environment %q, which this app does not have", e.RequiresPreviousEnvDeploy)
		}
	}
	for field, v := range map[string]string{"Cluster": e.Cluster, "Family": e.Family, "ListenerARN": e.ListenerARN} {
		if v == "" {
			ps.add(path+"."+field, "is required")
		}
	}
	if e.Family != "" && !familyPattern.MatchString(e.Family) {
		ps.add(path+".Family", "%q is not a task definition family: up to 255 letters, numbers, hyphens and underscores", e.Family)
	}
	if n := len(e.Subnets); n == 0 || n > 16 {
		ps.add(path+".Subnets", "has %d subnets; tasks need 1 to 16", n)
	}
	if n := len(e.SecurityGroups); n > 5 {
		ps.add(path+".SecurityGroups", "has %d security groups; ECS takes at most 5", n)
	}
	for i, name := range e.AlarmNames {
		if name == "" || len(name) > 255 {
			ps.add(fmt.Sprintf("%s.AlarmNames[%d]", path, i), "%q is not an alarm name: 1 to 255 characters", name)
		}
	}
	if e.ListenerARN != "" && !listenerPattern.MatchString(e.ListenerARN) {
		ps.add(path+".ListenerARN", "%q is not an ELBv2 listener ARN", e.ListenerARN)
	}
	for _, colour := range []string{"blue", "green"} {
		arn, ok := e.TargetGroupARNs[colour]
		switch {
		case !ok || arn == "":
			ps.add(path+".TargetGroupARNs."+colour, "is missing: both a blue and a green target group are required")
		case !tgPattern.MatchString(arn):
			ps.add(path+".TargetGroupARNs."+colour, "%q is not a target group ARN", arn)
		}
	}
	for colour := range e.TargetGroupARNs {
		if colour != "blue" && colour != "green" {
			ps.add(path+".TargetGroupARNs."+colour, "unknown colour: only blue and green")
		}
	}
	if b, g := e.TargetGroupARNs["blue"], e.TargetGroupARNs["green"]; b != "" && b == g {
		ps.add(path+".TargetGroupARNs", "blue and green are the same target group")
	}
	for field, v := range map[string]string{"TaskRoleARN": e.TaskRoleARN, "ExecutionRoleARN": e.ExecutionRoleARN} {
		if v != "" && !arnPattern.MatchString(v) {
			ps.add(path+"."+field, "%q is not an ARN", v)
		}
	}
	switch e.LaunchType {
	case "", "FARGATE", "EC2", "EXTERNAL":
	default:
		ps.add(path+".LaunchType", "%q is not FARGATE, EC2 or EXTERNAL", e.LaunchType)
	}
	if e.LaunchType != "" && len(e.CapacityProviderStrategy) > 0 {
		ps.add(path+".CapacityProviderStrategy", "cannot be set together with LaunchType")
	}
	if e.compatibility() == "FARGATE" {
		if e.CPU == "" {
			ps.add(path+".CPU", "is required: tasks on Fargate need a task-level CPU")
		}
		if e.Memory == "" {
			ps.add(path+".Memory", "is required: tasks on Fargate need a task-level memory size")
		}
	}
	bases := 0
	for i, cp := range e.CapacityProviderStrategy {
		cpp := fmt.Sprintf("%s.CapacityProviderStrategy[%d]", path, i)
		if cp.CapacityProvider == "" {
			ps.add(cpp+".CapacityProvider", "is required")
		}
		if cp.Weight < 0 || cp.Weight > 1000 {
			ps.add(cpp+".Weight", "%d is out of range 0 to 1000", cp.Weight)
		}
		if cp.Base < 0 || cp.Base > 100000 {
			ps.add(cpp+".Base", "%d is out of range 0 to 100000", cp.Base)
		}
		if cp.Base > 0 {
			bases++
		}
	}
	if bases > 1 {
		ps.add(path+".CapacityProviderStrategy", "gives a base to %d capacity providers; ECS takes one", bases)
	}
	if e.BakeTime < 0 {
		ps.add(path+".BakeTime", "is negative")
	}
	if e.RolloutTimeout < 0 {
		ps.add(path+".RolloutTimeout", "is negative")
	}
}

// Target returns the app and environment a request names, or an error that
// says which is unknown and what there is.
func (c *DeployConfig) Target(app, env string) (*AppConfig, *EnvConfig, error) {
	a, ok := c.Apps[app]
	if !ok || a == nil {
		return nil, nil, fmt.Errorf("app %q is not in the deploy config (apps: %s)", app, strings.Join(sortedKeys(c.Apps), ", "))
	}
	e, ok := a.Environments[env]
	if !ok || e == nil {
		return nil, nil, fmt.Errorf("app %q has no environment %q in the deploy config (environments: %s)", app, env, strings.Join(sortedKeys(a.Environments), ", "))
	}
	return a, e, nil
}

// region returns the environment's region, or the config's.
func (c *DeployConfig) region(e *EnvConfig) string {
	if e.Region != "" {
		return e.Region
	}
	return c.ConfigRegion
}

func (e *EnvConfig) rolloutTimeout() time.Duration {
	if e.RolloutTimeout == 0 {
		return defaultRolloutTimeout
	}
	return time.Duration(e.RolloutTimeout)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// lookupFold finds a key of m case-insensitively, as encoding/json matches
// struct fields.
func lookupFold(m map[string]any, k string) any {
	if v, ok := m[k]; ok {
		return v
	}
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return v
		}
	}
	return nil
}

// walkStrings calls fn with the JSON path of every string in a tree.
func walkStrings(v any, path string, fn func(path, s string)) {
	switch v := v.(type) {
	case string:
		fn(path, v)
	case map[string]any:
		for _, k := range sortedKeys(v) {
			walkStrings(v[k], path+"."+k, fn)
		}
	case []any:
		for i, e := range v {
			walkStrings(e, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	}
}
