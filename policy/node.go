package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// checker decodes yaml.Nodes into policy values, collecting every problem
// instead of stopping at the first. Each field path it visits is recorded
// with its line, so later cross-checks can name the line of any field.
type checker struct {
	problems []Problem
	lines    map[string]int  // field path -> line
	broken   map[string]bool // fields that should be mappings but are not
	enrolled []enrolledKey
}

func newChecker() *checker {
	return &checker{lines: make(map[string]int), broken: make(map[string]bool)}
}

// addf records a problem on field, at the line of field or, when field
// itself was never seen (a missing key), of its nearest recorded parent.
func (c *checker) addf(field, format string, args ...any) {
	c.addAt(c.line(field), field, format, args...)
}

func (c *checker) addAt(line int, field, format string, args ...any) {
	c.problems = append(c.problems, Problem{Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) line(field string) int {
	for {
		if l, ok := c.lines[field]; ok {
			return l
		}
		cut := max(strings.LastIndexByte(field, '.'), strings.LastIndexByte(field, '['))
		if cut < 0 {
			return c.lines[""]
		}
		field = field[:cut]
	}
}

// err returns nil, or a *ValidationError holding every problem by line.
func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	slices.SortStableFunc(c.problems, func(a, b Problem) int { return a.Line - b.Line })
	return &ValidationError{Problems: c.problems}
}

func child(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func item(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// value records n's line under field and returns n, or nil when n is absent,
// null or an alias (aliases are rejected: every value is written out once).
func (c *checker) value(n *yaml.Node, field string) *yaml.Node {
	if n == nil {
		return nil
	}
	if _, seen := c.lines[field]; !seen {
		c.lines[field] = n.Line // a mapping value keeps its key's line
	}
	switch {
	case n.Kind == yaml.AliasNode:
		c.addf(field, "aliases are not supported; write the value out")
		return nil
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		return nil
	}
	return n
}

// describe names the kind of a node for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch t := n.ShortTag(); t {
		case "!!str":
			return "a string"
		case "!!int":
			return "a whole number"
		case "!!float":
			return "a decimal number"
		case "!!bool":
			return "a boolean"
		case "!!timestamp":
			return "a timestamp"
		default:
			return "a value tagged " + t
		}
	}
	return "something else"
}

// mapping returns the values of mapping n by key. Keys outside known,
// repeated keys and a non-mapping n are problems; the result is then nil or
// holds only the known keys seen first.
func (c *checker) mapping(n *yaml.Node, field string, known ...string) map[string]*yaml.Node {
	if n = c.value(n, field); n == nil {
		c.broken[field] = true
		return nil
	}
	if n.Kind != yaml.MappingNode {
		c.addf(field, "expected a mapping, got %s", describe(n))
		c.broken[field] = true
		return nil
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	first := make(map[string]int, len(n.Content)/2) // key -> line
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := child(field, k.Value)
		c.lines[name] = k.Line
		switch {
		case k.Kind != yaml.ScalarNode:
			c.addAt(k.Line, field, "mapping keys must be plain names, got %s", describe(k))
		case !slices.Contains(known, k.Value):
			c.addf(name, "unknown field%s", suggest(k.Value, known))
		case first[k.Value] > 0:
			c.addAt(k.Line, name, "set twice (first on line %d)", first[k.Value])
		default:
			out[k.Value], first[k.Value] = v, k.Line
		}
	}
	return out
}

// seq returns the items of list n; a non-list is a problem.
func (c *checker) seq(n *yaml.Node, field string) []*yaml.Node {
	if n = c.value(n, field); n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		c.addf(field, "expected a list, got %s", describe(n))
		return nil
	}
	return n.Content
}

func (c *checker) scalar(n *yaml.Node, field, tag, want string) *yaml.Node {
	if n = c.value(n, field); n == nil {
		return nil
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tag {
		c.addf(field, "expected %s, got %s", want, describe(n))
		return nil
	}
	return n
}

// str decodes a string; absent or null gives "".
func (c *checker) str(n *yaml.Node, field string) string {
	if n = c.scalar(n, field, "!!str", "a string (quote it)"); n == nil {
		return ""
	}
	return n.Value
}

// strs decodes a list of strings.
func (c *checker) strs(n *yaml.Node, field string) []string {
	items := c.seq(n, field)
	out := make([]string, 0, len(items))
	for i, it := range items {
		if !present(it) {
			c.addf(item(field, i), "empty entry")
		}
		out = append(out, c.str(it, item(field, i)))
	}
	return out
}

// integer decodes an int; absent or null gives 0 and false.
func (c *checker) integer(n *yaml.Node, field string) (int, bool) {
	if n = c.scalar(n, field, "!!int", "a whole number"); n == nil {
		return 0, false
	}
	var v int
	if err := n.Decode(&v); err != nil {
		c.addf(field, "%q is out of range", n.Value)
		return 0, false
	}
	return v, true
}

// boolean decodes true or false; absent or null gives false.
func (c *checker) boolean(n *yaml.Node, field string) bool {
	if n = c.scalar(n, field, "!!bool", "true or false"); n == nil {
		return false
	}
	var v bool
	if err := n.Decode(&v); err != nil {
		c.addf(field, "%q is not true or false", n.Value)
	}
	return v
}

// duration decodes a Go duration string like "30m"; absent or null gives
// 0 and false.
func (c *checker) duration(n *yaml.Node, field string) (time.Duration, bool) {
	if n = c.scalar(n, field, "!!str", `a duration like "30m" or "1h30m"`); n == nil {
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		c.addf(field, "%q is not a duration; use units h, m, s (e.g. 30m, 168h for 7 days)", n.Value)
		return 0, false
	}
	return d, true
}

// closest returns the name in known closest to name when it is close
// enough to be a typo (edit distance under 3), or "". Names whose lengths
// differ too much are skipped unmeasured, which keeps this cheap on large
// policies full of mistakes.
func closest(name string, known []string) string {
	best, bestDist := "", min(3, len(name)/2+1)
	for _, k := range known {
		if diff := len(name) - len(k); diff >= bestDist || -diff >= bestDist {
			continue
		}
		if d := editDistance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// suggest returns ` (did you mean "x"?)` for the known name closest to
// name, when one is close enough to be a typo.
func suggest(name string, known []string) string {
	best := closest(name, known)
	if best == "" {
		return fmt.Sprintf(" (known fields: %s)", strings.Join(known, ", "))
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
