// Package hwkey creates and verifies SSHSIG signatures, the format that
// `ssh-keygen -Y sign` writes (OpenSSH PROTOCOL.sshsig), made by hardware
// keys behind ssh-agent (FIDO sk-* keys, PIV tokens) or by key files.
//
// Contracts:
//
//   - ParseSignature is strict: it accepts exactly one armored SSHSIG
//     ("-----BEGIN SSH SIGNATURE-----"), version 1, an empty reserved
//     field, hash "sha256" or "sha512", a canonically encoded public key and
//     signature, and nothing after them. Any other input is ErrMalformed
//     (ErrAlgorithm for an unknown hash). A parsed Signature re-encodes to
//     the same bytes (Signature.Marshal) and Armor writes the same text as
//     ssh-keygen.
//   - Verify accepts a signature only when it was made by exactly the
//     enrolled key (compared as wire bytes, before any cryptography), in
//     exactly the given namespace, over exactly the message, with an allowed
//     algorithm: ssh-ed25519, ecdsa-sha2-nistp256/384/521,
//     sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com, and
//     RSA keys of at least 2048 bits signing with rsa-sha2-256 or
//     rsa-sha2-512 (never ssh-rsa, which is SHA-1). Certificates and other
//     key types are refused.
//   - Security-key (sk) signatures without the user-presence flag are
//     refused with ErrNoPresence. User verification (PIN or biometric, flag
//     0x04) is reported in Result.UserVerified and NOT enforced here: the
//     caller (the policy) decides whether it is required.
//   - Sign always hashes with SHA-512 and makes RSA keys sign with
//     rsa-sha2-512; it never produces an ssh-rsa (SHA-1) signature.
//
// Every error wraps one of the exported sentinels (errors.Is) and names what
// was wrong. The package holds no state; AgentConn owns one connection.
package hwkey
