package main

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/failsmall/breakglass/web"
)

// certPath says where `token --ssh` writes the certificate: --out, else
// beside the --pubkey file or the --key file, as ssh looks for it
// (KEY-cert.pub).
func (c *cli) certPath(out, pubkey string) (string, error) {
	switch {
	case out != "":
		return out, nil
	case pubkey != "":
		return strings.TrimSuffix(pubkey, ".pub") + "-cert.pub", nil
	case c.g.key != "":
		return c.g.key + "-cert.pub", nil
	}
	return "", errUsage("--ssh with keys in ssh-agent: say where the certificate goes with --out FILE, or name your key with --pubkey KEY.pub")
}

// writeCert writes grant g's certificate to path after checking it is for
// want (the --pubkey or --key key, when given), and says how to log in.
func (c *cli) writeCert(g *web.GrantJSON, path, keyFile string, want ssh.PublicKey) error {
	if g.SSHCertificate == "" {
		return fmt.Errorf("grant %s of role %s has no SSH certificate: the role yields none (ask for a role with ssh)", g.ID, g.Role)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(g.SSHCertificate))
	cert, ok := pub.(*ssh.Certificate)
	if err != nil || !ok {
		return fmt.Errorf("the broker sent an SSH certificate that does not parse: %v", err)
	}
	if want != nil && !bytes.Equal(cert.Key.Marshal(), want.Marshal()) {
		return fmt.Errorf("the certificate of grant %s is for key %s, not %s: the request named another key (request --pubkey)",
			g.ID, ssh.FingerprintSHA256(cert.Key), ssh.FingerprintSHA256(want))
	}
	if err := writeFileAtomic(path, []byte(g.SSHCertificate+"\n"), 0o644); err != nil {
		return err
	}
	if c.g.json {
		return c.printJSON(sshCertJSON{Grant: g.ID, File: path, Serial: cert.Serial, KeyID: cert.KeyId,
			Principals: nonNil(cert.ValidPrincipals), Expires: g.Expires})
	}
	fmt.Fprintf(c.stdout, "wrote the SSH certificate of grant %s to %s (serial %d, principals %s); it expires %s (in %s)\n",
		g.ID, path, cert.Serial, strings.Join(cert.ValidPrincipals, ","), g.Expires.Format(time.RFC3339),
		time.Until(g.Expires).Truncate(time.Second))
	identity := ""
	if keyFile != "" {
		identity = "-i " + keyFile + " "
	}
	fmt.Fprintf(c.stdout, "log in with: ssh %s-o CertificateFile=%s %s@HOST\n", identity, path, cert.ValidPrincipals[0])
	return nil
}
