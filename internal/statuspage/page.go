package statuspage

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"ecs-deploy/events"
	"ecs-deploy/internal/appstatus"
)

// Page serves the status page (GET /) and the same as JSON
// (GET /status.json). It is read-only.
type Page struct {
	// Status reads what serves where. Optional: without it the page shows
	// only the recent deploys.
	Status func(ctx context.Context) ([]appstatus.AppEnv, error)
	// Recent holds the recent deploys. Required.
	Recent *Recent
	// Title names the page. Default "ecs-deploy".
	Title string
	// Refresh reloads the page this often. Default 5s; negative: never.
	Refresh time.Duration
	// ReadTimeout bounds reading the status. Default 10s.
	ReadTimeout time.Duration
}

//go:embed page.html.tmpl
var files embed.FS

var pageTemplate = template.Must(template.New("page.html.tmpl").Funcs(template.FuncMap{
	"since": func(t, from time.Time) string { return fmt.Sprintf("%+.1fs", t.Sub(from).Seconds()) },
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format("15:04:05")
	},
	"secs": func(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) },
	"short": func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		return s[:n] + "…"
	},
	"outcome": outcome,
}).ParseFS(files, "page.html.tmpl"))

// view is what the template renders.
type view struct {
	Title     string
	Refresh   int
	Generated time.Time
	Apps      []appstatus.AppEnv
	StatusErr string
	Deploys   []deployView
}

type deployView struct {
	Deploy
	Took time.Duration
	// Segments are the step runs laid out on the deploy's time line, in
	// percent of its duration.
	Segments []segment
}

type segment struct {
	StepRun
	Left, Width float64
	Took        time.Duration
}

// outcome is the CSS class and the words for a deploy's end.
func outcome(t events.Type) string {
	switch t {
	case events.DeploySucceeded:
		return "succeeded"
	case events.DeployFailed:
		return "failed"
	case events.DeployRolledBack:
		return "rolled-back"
	case events.DeployRejected:
		return "rejected"
	}
	return "running"
}

func (p *Page) setDefaults() {
	if p.Title == "" {
		p.Title = "ecs-deploy"
	}
	if p.Refresh == 0 {
		p.Refresh = 5 * time.Second
	}
	if p.ReadTimeout == 0 {
		p.ReadTimeout = 10 * time.Second
	}
}

func (p *Page) build(ctx context.Context) view {
	p.setDefaults()
	v := view{Title: p.Title, Generated: time.Now()}
	if p.Refresh > 0 {
		v.Refresh = int(p.Refresh.Seconds())
	}
	if p.Status != nil {
		ctx, cancel := context.WithTimeout(ctx, p.ReadTimeout)
		defer cancel()
		apps, err := p.Status(ctx)
		if err != nil {
			v.StatusErr = err.Error()
		}
		v.Apps = apps
	}
	for _, d := range p.Recent.Deploys() {
		v.Deploys = append(v.Deploys, layout(d, v.Generated))
	}
	return v
}

// layout places each step run on the deploy's time line.
func layout(d Deploy, now time.Time) deployView {
	end := d.Last
	if d.Final == "" && now.After(end) {
		end = now
	}
	total := end.Sub(d.First)
	dv := deployView{Deploy: d, Took: total}
	if total <= 0 {
		total = time.Millisecond
	}
	for _, r := range d.Runs {
		stop := r.End
		if stop.IsZero() {
			stop = end
		}
		s := segment{StepRun: r, Took: stop.Sub(r.Start)}
		s.Left = 100 * float64(r.Start.Sub(d.First)) / float64(total)
		s.Width = max(100*float64(stop.Sub(r.Start))/float64(total), 0.6)
		if s.Left+s.Width > 100 {
			s.Left = max(100-s.Width, 0)
		}
		dv.Segments = append(dv.Segments, s)
	}
	return dv
}

// ServeHTTP serves the page.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v := p.build(r.Context())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if err := pageTemplate.Execute(w, v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// JSON serves what the page shows as JSON.
func (p *Page) JSON() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := p.build(r.Context())
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"generated": v.Generated, "apps": v.Apps, "status_error": v.StatusErr, "deploys": p.Recent.Deploys()})
	})
}
