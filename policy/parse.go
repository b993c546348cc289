package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// idPattern is what group names, principal ids and role names must match.
var idPattern = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,63}$`)

// Parse decodes and validates a version 1 policy file. It returns either a
// valid Policy or a *ValidationError listing every problem found, each with
// its line and field; never both, never a partly valid Policy. Parse does
// no I/O and keeps a copy of data for Bytes and Hash.
func Parse(data []byte) (*Policy, error) {
	c := newChecker()
	root := c.document(data)
	if root == nil {
		return nil, c.err()
	}
	p := c.policy(root)
	c.validate(p)
	if err := c.err(); err != nil {
		return nil, err
	}
	p.index(data)
	return p, nil
}

// document returns the root node of the single YAML document in data, or
// nil after recording why there is none.
func (c *checker) document(data []byte) *yaml.Node {
	if len(data) > MaxSize {
		c.addf("", "policy file is %d bytes, more than the %d allowed", len(data), MaxSize)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := decodeNode(dec, &doc); {
	case errors.Is(err, io.EOF):
		c.addf("", "empty policy document")
		return nil
	case err != nil:
		c.yamlProblem(err)
		return nil
	}
	var next yaml.Node
	switch err := decodeNode(dec, &next); {
	case err == nil:
		c.addAt(next.Line, "", "multiple YAML documents; a policy file holds exactly one (remove the extra ---)")
	case !errors.Is(err, io.EOF):
		c.yamlProblem(err)
	}
	if len(doc.Content) != 1 {
		c.addf("", "empty policy document")
		return nil
	}
	root := doc.Content[0]
	c.lines[""] = root.Line
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		c.addf("", "empty policy document")
		return nil
	}
	return root
}

// decodeNode decodes the next document, turning a panic inside the YAML
// library into an error: bad input must never crash the broker.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return dec.Decode(n)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlProblem records a syntax error from the YAML library, with its line
// when the message has one.
func (c *checker) yamlProblem(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if line, convErr := strconv.Atoi(m[1]); convErr == nil {
			c.addAt(line, "", "invalid YAML: %s", m[2])
			return
		}
	}
	c.addAt(0, "", "invalid YAML: %s", msg)
}

// policy decodes the top-level mapping; the parts check themselves.
func (c *checker) policy(root *yaml.Node) *Policy {
	f := c.mapping(root, "", "version", "admins", "admin_quorum", "groups", "principals", "roles")
	p := &Policy{}
	if f == nil {
		return p
	}
	if !present(f["version"]) {
		c.addf("version", "required; this broker reads version: 1")
	} else if v, ok := c.integer(f["version"], "version"); ok && v != 1 {
		c.addf("version", "unsupported version %d; this broker reads version: 1", v)
	} else {
		p.Version = v
	}
	p.Admins = c.strs(f["admins"], "admins")
	p.AdminQuorum = c.adminQuorum(f["admin_quorum"], len(p.Admins))
	for i, n := range c.seq(f["groups"], "groups") {
		p.Groups = append(p.Groups, c.group(n, item("groups", i)))
	}
	for i, n := range c.seq(f["principals"], "principals") {
		p.Principals = append(p.Principals, c.principal(n, item("principals", i), i))
	}
	for i, n := range c.seq(f["roles"], "roles") {
		p.Roles = append(p.Roles, c.role(n, item("roles", i)))
	}
	return p
}

// adminQuorum decodes admin_quorum: absent or null gives 1; otherwise a
// whole number from 1 to the number of admins listed.
func (c *checker) adminQuorum(n *yaml.Node, admins int) int {
	k, ok := c.integer(n, "admin_quorum")
	switch {
	case !ok:
		return 1
	case k < 1:
		c.addf("admin_quorum", "must be at least 1, got %d", k)
	case k > admins:
		c.addf("admin_quorum", "%d admin signatures required but only %d admins are listed", k, admins)
	}
	return k
}

func (c *checker) group(n *yaml.Node, field string) Group {
	f := c.mapping(n, field, "name", "description")
	if f == nil {
		c.requireMapping(n, field)
		return Group{}
	}
	return Group{Name: c.str(f["name"], child(field, "name")), Description: c.str(f["description"], child(field, "description"))}
}

// present reports whether n holds a value other than null.
func present(n *yaml.Node) bool {
	return n != nil && (n.Kind != yaml.ScalarNode || n.ShortTag() != "!!null")
}

// requireMapping reports a null list item, which mapping skips silently.
func (c *checker) requireMapping(n *yaml.Node, field string) {
	if n != nil && !present(n) {
		c.addf(field, "empty entry")
	}
}
