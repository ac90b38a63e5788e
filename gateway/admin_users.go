package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/easgate/easgate/statecache"
)

// Device passwords through the admin API: for stores whose users'
// own passwords easgate never holds (Microsoft Graph), an administrator
// issues each user a password for their phones. The store checks it in
// the state (statecache.CheckUserPassword).
//
//	POST   /admin/v1/users/{user}/password   issue a new one; the answer carries it, once
//	DELETE /admin/v1/users/{user}/password   revoke it
//
// {user} is the name the store knows the user by (the UPN for Graph).

func (s *Server) apiIssuePassword(w http.ResponseWriter, r *http.Request) {
	user := strings.ToLower(r.PathValue("user"))
	if user == "" {
		apiError(w, http.StatusBadRequest, errors.New("a user is required"))
		return
	}
	pw := statecache.NewPassword()
	if err := s.state.SetUserPassword(r.Context(), user, pw, time.Now()); err != nil {
		apiError(w, errorCode(err), err)
		return
	}
	s.forgetPassword(user)
	writeJSON(w, http.StatusOK, map[string]string{"user": user, "password": pw,
		"message": fmt.Sprintf("device password of %s issued; earlier ones no longer work", user)})
}

func (s *Server) apiRevokePassword(w http.ResponseWriter, r *http.Request) {
	user := strings.ToLower(r.PathValue("user"))
	if err := s.state.DeleteUserPassword(r.Context(), user); err != nil {
		apiError(w, errorCode(err), err)
		return
	}
	s.forgetPassword(user)
	writeJSON(w, http.StatusOK, map[string]string{"message": fmt.Sprintf("device password of %s revoked", user)})
}

// forgetPassword makes a replaced or revoked password stop working at
// once, though successful logins are remembered for minutes.
func (s *Server) forgetPassword(user string) { s.logins.forget(user) }
