package policy

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
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

// sshStandardExtensions are the flag extensions of OpenSSH's
// PROTOCOL.certkeys; each takes an empty value.
var sshStandardExtensions = []string{
	"no-touch-required", "permit-X11-forwarding", "permit-agent-forwarding",
	"permit-port-forwarding", "permit-pty", "permit-user-rc",
}

// ssh decodes ssh: {principals, extensions, source_address, force_command}
// and checks each value as sshd would read it, so that a role never yields
// a certificate sshd refuses or misreads.
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
		if err := checkSourceAddress(s.SourceAddress); err != nil {
			c.addf(child(field, "source_address"), "%v", err)
		}
	}
	if present(f["force_command"]) && (strings.TrimSpace(s.ForceCommand) == "" || strings.ContainsRune(s.ForceCommand, 0)) {
		c.addf(child(field, "force_command"), "the command is empty or contains NUL")
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
		switch {
		case dup:
			c.addf(name, "set twice")
		case slices.Contains(sshStandardExtensions, k.Value) && val != "":
			c.addf(name, "takes no value, got %q (write %s: \"\")", val, k.Value)
		case !slices.Contains(sshStandardExtensions, k.Value) && !strings.Contains(k.Value, "@"):
			c.addf(name, "unknown extension%s; vendor extensions are named name@domain", suggest(k.Value, sshStandardExtensions))
		}
		out[k.Value] = val
	}
	if len(out) == 0 {
		return nil
	}
	return maps.Clone(out)
}

// checkSourceAddress checks a source-address list as sshd reads it: a
// comma-separated list, without spaces, of addresses and CIDR prefixes with
// no host bits set (sshd rejects 10.0.0.1/8).
func checkSourceAddress(list string) error {
	if list == "" {
		return fmt.Errorf("empty address list")
	}
	for entry := range strings.SplitSeq(list, ",") {
		if !strings.Contains(entry, "/") {
			if a, err := netip.ParseAddr(entry); err != nil || a.Zone() != "" {
				return fmt.Errorf("%q is not an IP address or CIDR prefix (write them comma-separated, without spaces)", entry)
			}
			continue
		}
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR prefix", entry)
		}
		if p != p.Masked() {
			return fmt.Errorf("%q has host bits set; did you mean %s?", entry, p.Masked())
		}
	}
	return nil
}
