package web

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// ApproveResultJSON answers an approval.
type ApproveResultJSON struct {
	Request   RequestJSON `json:"request"`
	Approver  string      `json:"approver"`
	Duplicate bool        `json:"duplicate,omitempty"`
	Granted   bool        `json:"granted"`
	Grant     *GrantJSON  `json:"grant,omitempty"`
	Missing   []string    `json:"missing,omitempty"`
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Signature string `json:"signature"`
	}
	if err := decode(w, r, &in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	res, err := s.svc.Approve(r.Context(), chi.URLParam(r, "id"), []byte(in.Signature))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := ApproveResultJSON{Request: requestJSON(res.Request), Approver: res.Approval.Approver,
		Duplicate: res.Duplicate, Missing: res.Missing}
	if res.Grant != nil {
		s.grants.Inc()
		g := grantJSON(res.Grant)
		g.Token = ""
		out.Granted, out.Grant = true, &g
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deny(w http.ResponseWriter, r *http.Request) {
	var in SignedJSON
	if err := decode(w, r, &in); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	req, err := s.svc.Deny(r.Context(), chi.URLParam(r, "id"), []byte(in.Statement), []byte(in.Signature))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, requestJSON(req))
}
