package web

import (
	"crypto/rand"
	"errors"
	"net/http"

	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/pairing"
)

// pairPage shows the form that answers a device's code, filled in from
// the verification URI's ?code=. It shows no words from its link: a notice
// is only ever the answer to the person's own form.
func (s *Server) pairPage(w http.ResponseWriter, r *http.Request, sess session) {
	s.showPair(w, r, sess, http.StatusOK, "", "")
}

func (s *Server) showPair(w http.ResponseWriter, r *http.Request, sess session, status int, notice, problem string) {
	homes, err := s.deps.Homes.List(r.Context(), sess.claims.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	code := r.FormValue("code")
	if len(code) > 20 || notice != "" {
		code = ""
	}
	s.render(w, r, "pair", status, map[string]any{
		"Title": "Pair a device", "CSRF": sess.csrf, "Homes": homes, "Code": code, "Notice": notice, "Problem": problem,
	})
}

// pairDecide approves or denies the code. A wrong code, someone else's
// home and a code already decided all read alike; guesses are throttled
// and audited by the pairing service.
func (s *Server) pairDecide(w http.ResponseWriter, r *http.Request, sess session) {
	a := pairing.Actor{UserID: sess.claims.UserID, RequestID: "web-" + rand.Text()}
	code := r.PostFormValue("code")
	var err error
	notice := "Denied. The device was refused."
	if r.PostFormValue("action") == "deny" {
		err = s.deps.Pairings.Deny(r.Context(), a, code)
	} else {
		var name string
		name, err = s.deps.Pairings.Approve(r.Context(), a, code, r.PostFormValue("home"), r.PostFormValue("name"), r.PostFormValue("area"))
		notice = "Approved “" + name + "”. The device gets its token on its next poll."
	}
	switch {
	case errors.Is(err, pairing.ErrNotFound):
		s.showPair(w, r, sess, http.StatusNotFound, "", "No device waits for this code. Check the code the device shows; it expires after 10 minutes.")
		return
	case errors.Is(err, auth.ErrThrottled):
		s.showPair(w, r, sess, http.StatusTooManyRequests, "", "Too many wrong codes. Please wait a few minutes.")
		return
	case err != nil:
		if status, msg, ok := s.opts.Errors(err); ok && status == http.StatusBadRequest {
			s.showPair(w, r, sess, status, "", msg)
			return
		}
		s.fail(w, r, err)
		return
	}
	// The answer is the page itself, which names the device: a redirect
	// would have to carry the name in its link, and the page would then
	// show whatever a link says.
	s.showPair(w, r, sess, http.StatusOK, notice, "")
}
