package pipeline

import (
	"errors"
	"fmt"
	"text/template"
	"text/template/parse"
)

// maxRendered bounds what one template string may render to.
const maxRendered = 64 << 10

// checkTree refuses what no deploy config needs and could make rendering
// run without end or blow up: loops ({{range}}), templates defined and
// called ({{define}}, {{template}}, {{block}}), and the functions whose
// output can be made huge (print, printf, println with widths) or that call
// arbitrary functions (call). Values, {{if}}, {{with}}, index, len and the
// comparisons stay.
func checkTree(t *template.Template) error {
	if len(t.Templates()) > 1 {
		return errors.New("{{define}} and {{block}} are not allowed in deploy config templates")
	}
	return checkNode(t.Tree.Root)
}

var bannedFuncs = map[string]bool{"print": true, "printf": true, "println": true, "call": true}

func checkNode(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNode(c); err != nil {
				return err
			}
		}
	case *parse.RangeNode:
		return fmt.Errorf("{{range}} is not allowed in deploy config templates (at %q)", n.String())
	case *parse.TemplateNode:
		return fmt.Errorf("{{template}} is not allowed in deploy config templates (at %q)", n.String())
	case *parse.ActionNode:
		return checkNode(n.Pipe)
	case *parse.IfNode:
		return errors.Join(checkNode(n.Pipe), checkNode(n.List), checkNode(n.ElseList))
	case *parse.WithNode:
		return errors.Join(checkNode(n.Pipe), checkNode(n.List), checkNode(n.ElseList))
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			for _, a := range c.Args {
				if err := checkNode(a); err != nil {
					return err
				}
			}
		}
	case *parse.IdentifierNode:
		if bannedFuncs[n.Ident] {
			return fmt.Errorf("the function %s is not allowed in deploy config templates", n.Ident)
		}
	}
	return nil
}

// limitedBuffer collects a rendering, and fails past maxRendered bytes.
type limitedBuffer struct{ b []byte }

var errTooLong = fmt.Errorf("renders to more than %d bytes", maxRendered)

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b)+len(p) > maxRendered {
		return 0, errTooLong
	}
	l.b = append(l.b, p...)
	return len(p), nil
}
