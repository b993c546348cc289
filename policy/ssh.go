package policy

import (
	"errors"
	"maps"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/failsmall/breakglass/internal/sshopt"
)

// SSH says what OpenSSH user certificate a role yields. A role without it
// yields no certificate.
type SSH struct {
	// Principals the certificate names (the login names sshd maps through
	// AuthorizedPrincipalsFile); at least one.
	Principals []string
	// Extensions such as permit-pty; the standard ones take an empty value,
	// others are vendor names (name@domain).
	Extensions map[string]string
	// SourceAddress, when set, is the source-address critical option: a
	// comma-separated list of addresses and CIDR prefixes.
	SourceAddress string
	// ForceCommand, when set, is the force-command critical option.
	ForceCommand string
}

// ssh decodes ssh: {principals, extensions, source_address, force_command}
// and checks each value as sshd would read it (internal/sshopt, the rules
// token enforces again when signing), so that a role never yields a
// certificate sshd refuses or misreads.
func (c *checker) ssh(n *yaml.Node, field string, r *Role) {
	f := c.mapping(n, field, "principals", "extensions", "source_address", "force_command")
	if f == nil {
		return
	}
	s := &SSH{
		Principals:    c.strs(f["principals"], child(field, "principals")),
		SourceAddress: c.str(f["source_address"], child(field, "source_address")),
		ForceCommand:  c.str(f["force_command"], child(field, "force_command")),
	}
	if emptyList(f["principals"]) {
		c.addf(child(field, "principals"), "required: at least one login principal, e.g. principals: [breakglass]")
	}
	seen := map[string]bool{}
	for i, p := range s.Principals {
		if p != "" && (strings.ContainsAny(p, ", ") || plainText(p) != nil) {
			c.addf(item(child(field, "principals"), i), "principal %q contains a comma, a space or a control character", p)
		} else if seen[p] && p != "" {
			c.addf(item(child(field, "principals"), i), "principal %q listed twice", p)
		}
		seen[p] = true
	}
	s.Extensions = c.sshExtensions(f["extensions"], child(field, "extensions"))
	if present(f["source_address"]) {
		if err := sshopt.CheckSourceAddress(s.SourceAddress); err != nil {
			c.addf(child(field, "source_address"), "%v", err)
		}
	}
	if present(f["force_command"]) {
		if err := sshopt.CheckForceCommand(s.ForceCommand); err != nil {
			c.addf(child(field, "force_command"), "%v", err)
		}
	}
	r.SSH = s
}

// sshExtensions decodes a mapping of extension names to string values.
func (c *checker) sshExtensions(n *yaml.Node, field string) map[string]string {
	if n = c.value(n, field); n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		c.addf(field, "expected a mapping like {permit-pty: \"\"}, got %s", describe(n))
		return nil
	}
	out := make(map[string]string, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := child(field, k.Value)
		c.lines[name] = k.Line
		val := ""
		if present(v) {
			val = c.str(v, name)
		}
		_, dup := out[k.Value]
		err := sshopt.CheckExtension(k.Value, val)
		switch {
		case dup:
			c.addf(name, "set twice")
		case errors.Is(err, sshopt.ErrUnknownExtension):
			c.addf(name, "unknown extension%s; vendor extensions are named name@domain", suggest(k.Value, sshopt.StandardExtensions()))
		case err != nil:
			c.addf(name, "%v (write %s: \"\")", err, k.Value)
		}
		out[k.Value] = val
	}
	if len(out) == 0 {
		return nil
	}
	return maps.Clone(out)
}
