package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

// Routes say where each app's and environment's deploys are told. The
// routing file is JSON:
//
//	{
//	  "default": {"channel": "#deploys"},
//	  "routes": [
//	    {"app": "shop", "envs": ["prod"], "channel": "#shop-prod", "webhook_env": "SLACK_WEBHOOK_SHOP_PROD"},
//	    {"app": "shop", "channel": "#shop"}
//	  ]
//	}
//
// The first route whose app ("" or "*": any) and envs (none: any) match
// wins; otherwise the default, if there is one; otherwise the deploy is not
// told. In webhook mode a route may name, in webhook_env, the variable that
// holds its webhook URL (a URL is a secret and stays out of the file);
// without one it uses the notifier's WebhookURL.
type Routes struct {
	Default *Route  `json:"default,omitempty"`
	Routes  []Route `json:"routes"`
}

// Route is one destination.
type Route struct {
	App        string   `json:"app,omitempty"`
	Envs       []string `json:"envs,omitempty"`
	Channel    string   `json:"channel,omitempty"`
	WebhookEnv string   `json:"webhook_env,omitempty"`
}

func (r Route) matches(app, env string) bool {
	return (r.App == "" || r.App == "*" || r.App == app) && (len(r.Envs) == 0 || slices.Contains(r.Envs, env))
}

// Find returns the route for an app and env.
func (rs Routes) Find(app, env string) (Route, bool) {
	for _, r := range rs.Routes {
		if r.matches(app, env) {
			return r, true
		}
	}
	if rs.Default != nil {
		return *rs.Default, true
	}
	return Route{}, false
}

// all lists the routes and the default.
func (rs Routes) all() []Route {
	all := slices.Clone(rs.Routes)
	if rs.Default != nil {
		all = append(all, *rs.Default)
	}
	return all
}

// LoadRoutes reads a routing file; unknown fields are errors.
func LoadRoutes(path string) (Routes, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Routes{}, fmt.Errorf("slack routes: %w", err)
	}
	var rs Routes
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rs); err != nil {
		return Routes{}, fmt.Errorf("slack routes %s: %w", path, err)
	}
	return rs, nil
}
