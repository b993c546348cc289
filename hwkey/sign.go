package hwkey

import (
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// Sign makes an SSHSIG over message in namespace with signer (a key file
// signer from LoadKeyFile or an agent signer from AgentConn.Signers),
// hashing with SHA-512 as ssh-keygen does. RSA keys sign with rsa-sha2-512,
// which needs an ssh.AlgorithmSigner; Sign never makes an ssh-rsa (SHA-1)
// signature. Errors wrap ErrNamespace for an empty namespace, ErrAlgorithm
// for a refused key or a signer that returned a refused algorithm; a signer's own failure (an agent refusing,
// a security key not touched) is returned wrapped as is.
func Sign(signer ssh.Signer, namespace string, message []byte) (*Signature, error) {
	return signHash(signer, namespace, HashSHA512, message)
}

func signHash(signer ssh.Signer, namespace, hashAlg string, message []byte) (*Signature, error) {
	if namespace == "" {
		return nil, fmt.Errorf("%w: empty namespace", ErrNamespace)
	}
	// A plain key, not the agent's *agent.Key, goes into the Signature.
	pub, err := ssh.ParsePublicKey(signer.PublicKey().Marshal())
	if err != nil {
		return nil, fmt.Errorf("%w: signer's public key: %v", ErrMalformed, err)
	}
	if err := checkKey(pub); err != nil {
		return nil, err
	}
	data, err := signedData(namespace, hashAlg, message)
	if err != nil {
		return nil, err
	}
	sig, err := signData(signer, data)
	if err != nil {
		return nil, fmt.Errorf("sign with %s %s: %w", pub.Type(), ssh.FingerprintSHA256(pub), err)
	}
	if err := checkSigFormat(pub, sig.Format); err != nil {
		return nil, err
	}
	return &Signature{PublicKey: pub, Namespace: namespace, HashAlg: hashAlg, Sig: sig}, nil
}

// signData signs with the key's only allowed algorithm, or rsa-sha2-512 for
// RSA keys.
func signData(signer ssh.Signer, data []byte) (*ssh.Signature, error) {
	if signer.PublicKey().Type() != ssh.KeyAlgoRSA {
		return signer.Sign(rand.Reader, data)
	}
	as, ok := signer.(ssh.AlgorithmSigner)
	if !ok {
		return nil, fmt.Errorf("%w: signer of type %T cannot choose rsa-sha2-512", ErrAlgorithm, signer)
	}
	return as.SignWithAlgorithm(rand.Reader, data, ssh.KeyAlgoRSASHA512)
}
