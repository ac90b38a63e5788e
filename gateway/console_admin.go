package gateway

import (
	"fmt"
	"net/http"
	"time"

	"github.com/easgate/easgate/statecache"
)

// AdminConsolePrefix is where AdminConsole is served on the admin
// listener, beside the API under AdminPrefix.
const AdminConsolePrefix = "/admin/"

// AdminConsole returns the administrators' web console, to be served at
// AdminConsolePrefix on the admin listener: the device list with search,
// each device's page with its actions (destructive ones confirmed first),
// the access rules, and trace downloads. The login asks for o.Token.
func (s *Server) AdminConsole(o ConsoleOptions) http.Handler {
	c := s.newConsole(o, "/admin", "easgate_admin", true)
	// Its own Throttle: the token is one secret, not a user's password.
	lim := NewThrottle(ThrottleOptions{}, func() time.Time { return s.now() })
	m := http.NewServeMux()
	m.HandleFunc("GET /admin/style.css", c.serveCSS)
	m.HandleFunc("GET /admin/login", func(w http.ResponseWriter, r *http.Request) { c.loginPage(w, r, http.StatusOK, "") })
	m.HandleFunc("POST /admin/login", func(w http.ResponseWriter, r *http.Request) {
		limitForm(w, r)
		if err := c.checkPost(r, ""); err != nil {
			c.loginPage(w, r, http.StatusForbidden, err.Error())
			return
		}
		addr := s.clientAddr(r)
		if reason, wait := lim.Check(adminThrottleName, addr); reason != "" {
			w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
			c.loginPage(w, r, http.StatusTooManyRequests, "Too many failed logins from this address; try again later.")
			return
		}
		if !validToken(o.Token, r.PostForm.Get("token")) {
			lim.Failed(adminThrottleName, addr)
			s.log.Warn("console: admin login failed", "addr", addr.String())
			msg := "Wrong token."
			if o.Token == "" {
				msg = "No admin token is configured ([admin] token or EASGATE_ADMIN_TOKEN): the console is closed."
			}
			c.loginPage(w, r, http.StatusUnauthorized, msg)
			return
		}
		lim.Succeeded(adminThrottleName, addr)
		id, _ := c.ss.create("", nil)
		if id == "" {
			c.loginPage(w, r, http.StatusServiceUnavailable, "Too many sessions; try again later.")
			return
		}
		s.log.Info("console: admin logged in", "addr", addr.String())
		c.setCookie(w, r, c.loginCookie, "", -1)
		c.setCookie(w, r, c.cookie, id, 0)
		c.redirect(w, r, "/", "")
	})
	auth := func(h func(w http.ResponseWriter, r *http.Request, sess *session)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			sess := c.ss.get(r, c.cookie)
			if sess == nil {
				if r.Method == http.MethodGet {
					http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
					return
				}
				c.loginPage(w, r, http.StatusUnauthorized, "Your session ended; log in again.")
				return
			}
			if s.state == nil {
				http.Error(w, "no state store configured", http.StatusServiceUnavailable)
				return
			}
			if r.Method == http.MethodPost {
				limitForm(w, r)
				if err := c.checkPost(r, sess.csrf); err != nil {
					p := c.page(r, sess, "Refused")
					p.Error = err.Error()
					c.render(w, http.StatusForbidden, "confirm", p)
					return
				}
			}
			h(w, r, sess)
		}
	}
	m.HandleFunc("POST /admin/logout", auth(func(w http.ResponseWriter, r *http.Request, sess *session) {
		c.ss.end(r, c.cookie)
		c.setCookie(w, r, c.cookie, "", -1)
		http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
	}))
	m.HandleFunc("GET /admin/{$}", auth(c.adminList))
	m.HandleFunc("GET /admin/devices/{id}", auth(c.adminDevice))
	m.HandleFunc("POST /admin/devices/{id}/act", auth(c.adminAct))
	m.HandleFunc("GET /admin/devices/{id}/trace", auth(func(w http.ResponseWriter, r *http.Request, _ *session) {
		r.URL.RawQuery = "format=text"
		s.apiGetTrace(w, r)
	}))
	m.HandleFunc("GET /admin/rules", auth(c.adminRules))
	m.HandleFunc("POST /admin/rules", auth(c.adminSetRule))
	return m
}

func (c *console) adminList(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	p := c.page(r, sess, "Devices")
	p.Query = map[string]string{"q": q.Get("q"), "wipe": q.Get("wipe"), "access": q.Get("access")}
	p.WipeStates = []string{"none", "pending", "done"}
	p.AccessStates = []string{"default", "allow", "block", "quarantine"}
	f, err := deviceFilter(q)
	if err != nil {
		p.Error = err.Error()
		c.render(w, http.StatusBadRequest, "admin_list", p)
		return
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	if p.List, err = c.s.listDevices(r.Context(), f); err != nil {
		p.Error = "Listing the devices failed: " + err.Error()
		p.List = &DeviceList{}
	}
	c.render(w, http.StatusOK, "admin_list", p)
}

func (c *console) adminDevice(w http.ResponseWriter, r *http.Request, sess *session) {
	p := c.page(r, sess, "Device")
	d, err := c.s.showDevice(r.Context(), r.PathValue("id"))
	if err != nil {
		p.Error = err.Error()
		c.render(w, errorCode(err), "confirm", p)
		return
	}
	p.Device, p.Title = d, "Device "+d.ID
	c.render(w, http.StatusOK, "admin_device", p)
}

func (c *console) adminAct(w http.ResponseWriter, r *http.Request, sess *session) {
	id, f := r.PathValue("id"), r.PostForm
	action := f.Get("action")
	back := "/admin/devices/" + id
	if destructive(action) && f.Get("confirm") != "yes" {
		q := fmt.Sprintf("%s device %s", map[string]string{
			"wipe": "Erase everything on", "account-wipe": "Erase this account's data on",
			"remove": "Forget all state of", "resync": "Resync from scratch", "block": "Block",
		}[action], id)
		if u := f.Get("user"); u != "" {
			q += " (user " + u + ")"
		}
		if col := f.Get("collection"); col != "" {
			q += ", collection " + col
		}
		c.confirmPage(w, r, sess, q+"?", "Yes, "+action, back)
		return
	}
	res, err := c.s.DeviceAction(r.Context(), id, action, ActionRequest{
		User: f.Get("user"), Collection: f.Get("collection"), By: "admin console",
	})
	if err != nil {
		p := c.page(r, sess, "Refused")
		p.Error = err.Error()
		p.Question, p.Back = "", back
		c.render(w, errorCode(err), "confirm", p)
		return
	}
	if action == "remove" {
		c.redirect(w, r, "/", res.Message)
		return
	}
	c.redirect(w, r, "/devices/"+id, res.Message)
}

func (c *console) adminRules(w http.ResponseWriter, r *http.Request, sess *session) {
	p := c.page(r, sess, "Access rules")
	rules, err := c.s.state.AccessRules(r.Context())
	if err != nil {
		p.Error = err.Error()
	}
	for _, ru := range rules {
		p.Rules = append(p.Rules, ruleJSON(ru))
	}
	p.Characteristics = characteristicNames()
	c.render(w, http.StatusOK, "admin_rules", p)
}

func (c *console) adminSetRule(w http.ResponseWriter, r *http.Request, sess *session) {
	f := r.PostForm
	var msg string
	switch f.Get("op") {
	case "delete":
		err := c.s.state.DeleteAccessRule(r.Context(), statecache.Characteristic(f.Get("by")), f.Get("value"))
		if err != nil {
			msg = "Deleting the rule failed: " + err.Error()
			break
		}
		c.s.wakeAll()
		msg = "Rule deleted."
	default:
		rj, err := c.s.SetRule(r.Context(), RuleJSON{By: f.Get("by"), Value: f.Get("value"), Level: f.Get("level"), CreatedBy: "admin console"})
		if err != nil {
			msg = "Refused: " + err.Error()
			break
		}
		msg = fmt.Sprintf("Rule set: %s %s → %s.", rj.By, rj.Value, rj.Level)
	}
	c.redirect(w, r, "/rules", msg)
}

// adminThrottleName is the user name the admin console's Throttle counts
// failures under.
const adminThrottleName = "admin console"
