package hwkey

import (
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// agentDialTimeout bounds connecting to the agent's socket.
const agentDialTimeout = 5 * time.Second

// AgentConn is a connection to an ssh-agent. It is safe for concurrent use;
// Close it when done.
type AgentConn struct {
	sock   string
	conn   net.Conn
	client agent.ExtendedAgent
}

// Agent connects to the ssh-agent listening on sock, or on $SSH_AUTH_SOCK
// when sock is "". Errors wrap ErrNoAgent and say what to do.
func Agent(sock string) (*AgentConn, error) {
	if sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock == "" {
		return nil, fmt.Errorf("%w: SSH_AUTH_SOCK is not set; start one with `eval $(ssh-agent)` and `ssh-add` your key, or pass --key FILE", ErrNoAgent)
	}
	conn, err := net.DialTimeout("unix", sock, agentDialTimeout)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot reach %s: %v; is ssh-agent running and SSH_AUTH_SOCK right? or pass --key FILE", ErrNoAgent, sock, err)
	}
	return &AgentConn{sock: sock, conn: conn, client: agent.NewClient(conn)}, nil
}

// Signers returns a signer for each key the agent holds, in the agent's
// order. They implement ssh.AlgorithmSigner, so Sign gets rsa-sha2-512
// signatures from RSA keys. Errors wrap ErrNoKeys when the agent holds no
// key, ErrNoAgent when it cannot be asked.
func (a *AgentConn) Signers() ([]ssh.Signer, error) {
	signers, err := a.client.Signers()
	if err != nil {
		return nil, fmt.Errorf("%w: list keys of %s: %v", ErrNoAgent, a.sock, err)
	}
	if len(signers) == 0 {
		return nil, fmt.Errorf("%w: %s; add yours with `ssh-add KEYFILE`", ErrNoKeys, a.sock)
	}
	return signers, nil
}

// Close closes the connection to the agent.
func (a *AgentConn) Close() error {
	return a.conn.Close()
}
