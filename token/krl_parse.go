package token

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// ErrMalformedKRL is wrapped by every error ParseKRL returns; the message
// says which part of the KRL is wrong.
var ErrMalformedKRL = errors.New("malformed KRL")

// ParseKRL decodes a KRL of the shape Marshal writes: the header and at most
// one KRL_SECTION_CERTIFICATES section for a named CA, holding serial list
// and key id subsections. Serials and key ids come back in file order. It
// rejects, with an error wrapping ErrMalformedKRL, anything else: a bad magic
// or format version, unknown flags, truncated or trailing bytes, other
// section types (explicit keys, fingerprints, signatures, extensions),
// sections for any CA, serial ranges and bitmaps, serial 0, empty key ids.
func ParseKRL(data []byte) (*KRL, error) {
	k, err := parseKRL(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedKRL, err)
	}
	return k, nil
}

func parseKRL(data []byte) (*KRL, error) {
	r := &krlReader{data: data}
	if string(r.bytes(len(krlMagic))) != krlMagic {
		return nil, errors.New("not a KRL: bad magic")
	}
	if v := r.u32(); r.err == nil && v != krlFormatVersion {
		return nil, fmt.Errorf("format version %d, want %d", v, krlFormatVersion)
	}
	k := &KRL{Version: r.u64()}
	generated, flags := r.u64(), r.u64()
	r.str() // reserved: ignored, as PROTOCOL.krl says
	comment := r.str()
	switch {
	case r.err != nil:
		return nil, fmt.Errorf("header: %w", r.err)
	case generated > math.MaxInt64:
		return nil, fmt.Errorf("header: generated_date %d out of range", generated)
	case flags != 0:
		return nil, fmt.Errorf("header: unknown flags %#x", flags)
	case strings.IndexByte(string(comment), 0) >= 0:
		return nil, errors.New("header: comment contains NUL")
	}
	k.GeneratedAt = time.Unix(int64(generated), 0).UTC()
	k.Comment = string(comment)
	for !r.done() {
		typ, body := r.u8(), r.str()
		if r.err != nil {
			return nil, fmt.Errorf("section: %w", r.err)
		}
		if typ != krlSectionCertificates {
			return nil, fmt.Errorf("section type %d not supported (only certificates, %d)", typ, krlSectionCertificates)
		}
		if k.CA != nil {
			return nil, errors.New("more than one certificate section")
		}
		if err := k.parseCertSection(body); err != nil {
			return nil, fmt.Errorf("certificate section: %w", err)
		}
	}
	return k, nil
}

// parseCertSection reads a KRL_SECTION_CERTIFICATES body into k.
func (k *KRL) parseCertSection(body []byte) error {
	r := &krlReader{data: body}
	caBlob := r.str()
	r.str() // reserved
	if r.err != nil {
		return r.err
	}
	if len(caBlob) == 0 {
		return errors.New("sections for any CA are not supported")
	}
	ca, err := ssh.ParsePublicKey(caBlob)
	if err != nil {
		return fmt.Errorf("CA key: %w", err)
	}
	if _, ok := ca.(*ssh.Certificate); ok {
		return errors.New("CA key is a certificate")
	}
	k.CA = ca
	for !r.done() {
		typ, sub := r.u8(), r.str()
		if r.err != nil {
			return fmt.Errorf("subsection: %w", r.err)
		}
		if err := k.parseCertSubsection(typ, sub); err != nil {
			return err
		}
	}
	return nil
}

func (k *KRL) parseCertSubsection(typ byte, sub []byte) error {
	switch typ {
	case krlCertSerialList:
		if len(sub)%8 != 0 {
			return fmt.Errorf("serial list length %d is not a multiple of 8", len(sub))
		}
		for i := 0; i < len(sub); i += 8 {
			s := binary.BigEndian.Uint64(sub[i:])
			if s == 0 {
				return errors.New("serial list holds serial 0")
			}
			k.Serials = append(k.Serials, s)
		}
	case krlCertKeyID:
		r := &krlReader{data: sub}
		if r.done() {
			return errors.New("key id subsection is empty")
		}
		for !r.done() {
			id := r.str()
			if r.err != nil {
				return fmt.Errorf("key id: %w", r.err)
			}
			if len(id) == 0 || strings.IndexByte(string(id), 0) >= 0 {
				return fmt.Errorf("key id %q is empty or contains NUL", id)
			}
			k.KeyIDs = append(k.KeyIDs, string(id))
		}
	case krlCertSerialRange, krlCertSerialBitmap:
		return fmt.Errorf("subsection %#02x (serial range or bitmap) not supported", typ)
	default:
		return fmt.Errorf("unknown subsection type %#02x", typ)
	}
	return nil
}

// krlReader reads SSH wire types from data; the first failure sticks in err
// and makes every later read return zero values.
type krlReader struct {
	data []byte
	off  int
	err  error
}

func (r *krlReader) done() bool { return r.err != nil || r.off == len(r.data) }

func (r *krlReader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.data)-r.off < n {
		r.err = fmt.Errorf("truncated at byte %d: need %d more, have %d", r.off, n, len(r.data)-r.off)
		return nil
	}
	b := r.data[r.off : r.off+n]
	r.off += n
	return b
}

func (r *krlReader) u8() byte {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *krlReader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *krlReader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// str reads a uint32 length and that many bytes.
func (r *krlReader) str() []byte {
	n := r.u32()
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.data)-r.off) {
		r.err = fmt.Errorf("truncated at byte %d: string of %d bytes, have %d", r.off, n, len(r.data)-r.off)
		return nil
	}
	return r.bytes(int(n))
}
