package broker

import (
	"context"
	"fmt"
)

// Receipts proves grants' issuance in the audit log, so that credentials
// never leave without their evidence.
type Receipts interface {
	// GrantReceipt returns the c2sp.org/tlog-proof receipt of the
	// grant.issued entry of grant id in a signed checkpoint that includes
	// it, with the entry's canonical bytes as the receipt's extra.
	GrantReceipt(ctx context.Context, grantID string) ([]byte, error)
}

// withReceipt sets g's Receipt when the broker has Receipts.
func (s *Service) withReceipt(ctx context.Context, g *Grant) (*Grant, error) {
	if s.cfg.Receipts == nil {
		return g, nil
	}
	rc, err := s.cfg.Receipts.GrantReceipt(ctx, g.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: receipt of grant %s: %w", ErrAuditUnavailable, g.ID, err)
	}
	g.Receipt = rc
	return g, nil
}
