package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// maxDepth bounds how deeply a request's JSON may nest.
const maxDepth = 64

// checkJSON walks a body's JSON and refuses duplicate object keys and
// control characters in any string, key or value, at any depth: a decoder
// would keep the last of two keys silently, and control characters have no
// place in a deploy request but in an attack on whoever reads its logs.
// Malformed JSON is left to the decoder, which says where.
func checkJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		// wantKey says the next string in an object is a key.
		wantKey bool
		path    string
	}
	var stack []*frame
	path := "$"
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if len(stack) >= maxDepth {
					return fmt.Errorf("JSON nests deeper than %d levels", maxDepth)
				}
				p := path
				stack = append(stack, &frame{object: t == '{', keys: map[string]bool{}, wantKey: t == '{', path: p})
				continue
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.object && top.wantKey {
				if i := strings.IndexFunc(t, isControl); i >= 0 {
					return fmt.Errorf("key %q in %s has a control character", t, top.path)
				}
				if top.keys[t] {
					return fmt.Errorf("key %q appears twice in %s", t, top.path)
				}
				top.keys[t] = true
				top.wantKey = false
				path = top.path + "." + t
				continue
			}
			if i := strings.IndexFunc(t, isControl); i >= 0 {
				return fmt.Errorf("%s has a control character (%U) at byte %d", path, []rune(t[i:])[0], i)
			}
		}
		// A value ended: the next string in the enclosing object is a key.
		if len(stack) > 0 {
			top = stack[len(stack)-1]
			if top.object {
				top.wantKey = true
				path = top.path
			}
		}
	}
}

func isControl(r rune) bool { return unicode.IsControl(r) }
