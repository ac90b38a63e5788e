package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// UserConsolePath is where EnableUserConsole serves the users' console
// on the EAS listener.
const UserConsolePath = "/devices"

// EnableUserConsole serves the users' web console at UserConsolePath on
// the EAS listener: a user logs in with the name and password the phone
// uses (checked by the Backend, as the phone's are), sees the devices that
// synced with that name and when they last did, wipes a lost one or
// cancels the wipe, and chooses which calendars and address books sync to
// the phones. Call it before serving.
func (s *Server) EnableUserConsole(o ConsoleOptions) {
	c := s.newConsole(o, UserConsolePath, "easgate_session", false)
	p := UserConsolePath
	s.mux.HandleFunc("GET "+p+"/style.css", c.serveCSS)
	s.mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) {
		sess := c.ss.get(r, c.cookie)
		if sess == nil {
			c.loginPage(w, r, http.StatusOK, "")
			return
		}
		c.userPage(w, r, sess)
	})
	s.mux.HandleFunc("POST "+p+"/login", func(w http.ResponseWriter, r *http.Request) {
		limitForm(w, r)
		if err := c.checkPost(r, ""); err != nil {
			c.loginPage(w, r, http.StatusForbidden, err.Error())
			return
		}
		user, pass := strings.TrimSpace(r.PostForm.Get("user")), r.PostForm.Get("password")
		if s.backend == nil || s.state == nil {
			c.loginPage(w, r, http.StatusServiceUnavailable, "This server has no store or no device state configured.")
			return
		}
		// The phone's own throttle: a guesser gains nothing by coming
		// through the console.
		addr := s.clientAddr(r)
		if reason, wait := s.throttle.Check(user, addr); reason != "" {
			w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
			c.loginPage(w, r, http.StatusTooManyRequests, "Too many failed logins; try again later.")
			return
		}
		src, err := s.backend.Login(r.Context(), user, pass)
		if err != nil {
			if loginStatus(err) == http.StatusServiceUnavailable {
				c.loginPage(w, r, http.StatusServiceUnavailable, "The mail server is not answering; try again later.")
				return
			}
			s.throttle.Failed(user, addr)
			s.log.Info("console: login failed", "user", user, "addr", addr.String())
			c.loginPage(w, r, http.StatusUnauthorized, "Wrong name or password.")
			return
		}
		s.throttle.Succeeded(user, addr)
		id, _ := c.ss.create(user, src)
		if id == "" {
			c.loginPage(w, r, http.StatusServiceUnavailable, "Too many sessions; try again later.")
			return
		}
		c.setCookie(w, r, c.loginCookie, "", -1)
		c.setCookie(w, r, c.cookie, id, 0)
		http.Redirect(w, r, p, http.StatusSeeOther)
	})
	auth := func(h func(w http.ResponseWriter, r *http.Request, sess *session)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			limitForm(w, r)
			sess := c.ss.get(r, c.cookie)
			if sess == nil {
				c.loginPage(w, r, http.StatusUnauthorized, "Your session ended; log in again.")
				return
			}
			if err := c.checkPost(r, sess.csrf); err != nil {
				pg := c.page(r, sess, "Refused")
				pg.Error, pg.Back = err.Error(), p
				c.render(w, http.StatusForbidden, "confirm", pg)
				return
			}
			h(w, r, sess)
		}
	}
	s.mux.HandleFunc("POST "+p+"/logout", auth(func(w http.ResponseWriter, r *http.Request, _ *session) {
		c.ss.end(r, c.cookie)
		c.setCookie(w, r, c.cookie, "", -1)
		http.Redirect(w, r, p, http.StatusSeeOther)
	}))
	s.mux.HandleFunc("POST "+p+"/signin", c.userSignIn)
	s.mux.HandleFunc("POST "+p+"/signin/done", c.userSignInDone)
	s.mux.HandleFunc("POST "+p+"/act", auth(c.userAct))
	s.mux.HandleFunc("POST "+p+"/folders", auth(c.userFolders))
}

// userDevice is one row of the user's device list.
type userDevice struct {
	ID, Name, Wipe string
	LastSeen       time.Time
}

// userFolder is a calendar or address book the user may keep off the
// phones.
type userFolder struct {
	ID, Name, Kind string
	On             bool
}

func (c *console) userPage(w http.ResponseWriter, r *http.Request, sess *session) {
	pg := c.page(r, sess, "My devices")
	ctx := r.Context()
	accts, err := c.s.mailboxAccounts(ctx, sess.user)
	if err != nil {
		pg.Error = "Reading your devices failed; try again later."
		c.s.log.Warn("console: listing devices", "user", sess.user, "err", err)
	}
	for _, a := range accts {
		id := a.Device
		d, err := c.s.state.Device(ctx, id)
		if err != nil {
			continue
		}
		info, err := c.s.state.Account(ctx, a)
		if err != nil {
			continue
		}
		name := d.Info.FriendlyName
		if name == "" {
			name = strings.TrimSpace(d.Type + " " + d.Info.Model)
		}
		pg.Devices = append(pg.Devices, userDevice{ID: id, Name: name, Wipe: info.Wipe.State(), LastSeen: info.LastSeen})
	}
	prefs, err := c.s.state.UserPrefs(ctx, c.s.mailbox(sess.user))
	if err != nil {
		c.s.log.Warn("console: reading folder choices", "user", sess.user, "err", err)
	}
	if fs, err := choosableFolders(r, sess.source); err == nil {
		for _, f := range fs {
			pg.Folders = append(pg.Folders, userFolder{ID: string(f.ID), Name: f.Name, Kind: kindLabel(f.Kind),
				On: !slices.Contains(prefs.Hidden, string(f.ID))})
		}
	} else {
		c.s.log.Warn("console: listing folders", "user", sess.user, "err", err)
	}
	c.render(w, http.StatusOK, "user_devices", pg)
}

// choosableFolders returns the user's calendars and address books: the
// folders a user may keep off the phones. Mail folders are not offered: a
// phone shows those only when the user opens them.
func choosableFolders(r *http.Request, src sources.Source) ([]sources.Folder, error) {
	if src == nil {
		return nil, errors.New("no store")
	}
	d, err := src.Folders(r.Context(), "")
	if err != nil {
		return nil, err
	}
	var out []sources.Folder
	for _, f := range d.Changed {
		if choosable(f.Kind) {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b sources.Folder) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func choosable(k sources.FolderKind) bool {
	switch k {
	case sources.KindCalendar, sources.KindUserCalendar, sources.KindContacts, sources.KindUserContacts:
		return true
	}
	return false
}

func kindLabel(k sources.FolderKind) string {
	if k == sources.KindCalendar || k == sources.KindUserCalendar {
		return "calendar"
	}
	return "address book"
}

func (c *console) userAct(w http.ResponseWriter, r *http.Request, sess *session) {
	f := r.PostForm
	dev, action := f.Get("device"), f.Get("action")
	if action != "wipe" && action != "cancel-wipe" {
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	// Only a device that synced this user's mailbox, under whatever
	// spelling of the name.
	accts, err := c.s.mailboxAccounts(r.Context(), sess.user)
	i := slices.IndexFunc(accts, func(a statecache.Account) bool { return a.Device == dev })
	if err != nil || i < 0 {
		c.redirect(w, r, "", "That device is not one of yours.")
		return
	}
	if action == "wipe" && f.Get("confirm") != "yes" {
		c.confirmPage(w, r, sess, fmt.Sprintf("Erase everything on device %s the next time it connects? This cannot be undone once it has happened.", dev),
			"Yes, wipe it", c.base)
		return
	}
	res, err := c.s.DeviceAction(r.Context(), dev, action, ActionRequest{User: accts[i].User, By: sess.user + " (user console)"})
	if err != nil {
		c.redirect(w, r, "", "Refused: "+err.Error())
		return
	}
	c.redirect(w, r, "", res.Message)
}

func (c *console) userFolders(w http.ResponseWriter, r *http.Request, sess *session) {
	fs, err := choosableFolders(r, sess.source)
	if err != nil {
		c.redirect(w, r, "", "Your folders cannot be listed right now; try again later.")
		return
	}
	on := r.PostForm["sync"]
	var hidden []string
	for _, f := range fs {
		if !slices.Contains(on, string(f.ID)) {
			hidden = append(hidden, string(f.ID))
		}
	}
	if err := c.s.state.SetUserPrefs(r.Context(), c.s.mailbox(sess.user), statecache.UserPrefs{Hidden: hidden}); err != nil {
		c.redirect(w, r, "", "Saving failed; try again later.")
		return
	}
	// The phones learn of it at their next FolderSync; send them there.
	accts, _ := c.s.mailboxAccounts(r.Context(), sess.user)
	for _, a := range accts {
		c.s.signal(r.Context(), signal{Kind: signalFolders, User: a.User, Device: a.Device})
	}
	c.redirect(w, r, "", "Saved: your phones pick up the change at their next sync.")
}

// mailboxAccounts returns the accounts of user's mailbox: those whose
// requests were recorded under its folded name (mailbox), whatever
// spelling each device logs in with, and those under user exactly that
// have not been seen since the index was added. One account per device,
// the one spelled as user if there are several.
func (s *Server) mailboxAccounts(ctx context.Context, user string) ([]statecache.Account, error) {
	accts, err := s.state.MailboxAccounts(ctx, s.mailbox(user))
	if err != nil {
		return nil, err
	}
	ids, err := s.state.Devices(ctx, user)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		accts = append(accts, statecache.Account{User: user, Device: id})
	}
	slices.SortStableFunc(accts, func(a, b statecache.Account) int {
		if c := strings.Compare(a.Device, b.Device); c != 0 {
			return c
		}
		return boolRank(a.User != user) - boolRank(b.User != user)
	})
	return slices.CompactFunc(accts, func(a, b statecache.Account) bool { return a.Device == b.Device }), nil
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}
