package graphemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// subscription is a change-notification subscription (§3.1).
type subscription struct {
	id, resource, changeTypes string
	notifyURL, lifecycleURL   string
	clientState               string
	expires                   time.Time
	mb                        *mailbox
	kind, folder              string // what it watches: a kind, and a folder or "" for all
}

func (sub *subscription) json() map[string]any {
	return map[string]any{"id": sub.id, "resource": sub.resource, "changeType": sub.changeTypes,
		"notificationUrl": sub.notifyURL, "lifecycleNotificationUrl": sub.lifecycleURL, "clientState": sub.clientState,
		"expirationDateTime": sub.expires.UTC().Format(time.RFC3339Nano)}
}

// serveSubscriptions answers POST, GET, PATCH and DELETE of
// /subscriptions (§3.1).
func (s *Server) serveSubscriptions(c *call) *graphError {
	switch {
	case len(c.segs) == 1 && c.r.Method == http.MethodPost:
		return s.createSubscription(c)
	case len(c.segs) == 1 && c.r.Method == http.MethodGet:
		s.mu.Lock()
		var out []map[string]any
		for _, sub := range s.subs {
			out = append(out, sub.json())
		}
		s.mu.Unlock()
		writeJSON(c.w, 200, map[string]any{"value": nonNil(out)})
		return nil
	case len(c.segs) == 2:
		s.mu.Lock()
		sub := s.subs[c.segs[1]]
		s.mu.Unlock()
		if sub == nil {
			return errf(404, "ResourceNotFound", "The object was not found.")
		}
		switch c.r.Method {
		case http.MethodGet:
			writeJSON(c.w, 200, sub.json())
			return nil
		case http.MethodDelete:
			s.mu.Lock()
			delete(s.subs, sub.id)
			s.mu.Unlock()
			c.w.WriteHeader(204)
			return nil
		case http.MethodPatch:
			var req struct {
				ExpirationDateTime time.Time `json:"expirationDateTime"`
			}
			if gerr := decodeJSON(c.r, &req); gerr != nil {
				return gerr
			}
			exp, gerr := s.checkExpiry(req.ExpirationDateTime)
			if gerr != nil {
				return gerr
			}
			s.mu.Lock()
			sub.expires = exp
			j := sub.json()
			s.mu.Unlock()
			writeJSON(c.w, 200, j)
			return nil
		}
	}
	return notImplemented(c.r)
}

// checkExpiry applies the lifetime rules of §3.1: over the maximum is
// 400, under 45 minutes is raised to 45.
func (s *Server) checkExpiry(t time.Time) (time.Time, *graphError) {
	now := s.o.Now()
	if t.Sub(now) > time.Duration(s.o.MaxSubscriptionMinutes)*time.Minute {
		return t, errf(400, "ExtensionError", "Subscription expiration can only be %d minutes in the future.", s.o.MaxSubscriptionMinutes)
	}
	if t.Sub(now) < 45*time.Minute {
		t = now.Add(45 * time.Minute)
	}
	return t, nil
}

func (s *Server) createSubscription(c *call) *graphError {
	var req struct {
		ChangeType               string    `json:"changeType"`
		NotificationURL          string    `json:"notificationUrl"`
		LifecycleNotificationURL string    `json:"lifecycleNotificationUrl"`
		Resource                 string    `json:"resource"`
		ExpirationDateTime       time.Time `json:"expirationDateTime"`
		ClientState              string    `json:"clientState"`
		IncludeResourceData      bool      `json:"includeResourceData"`
	}
	if gerr := decodeJSON(c.r, &req); gerr != nil {
		return gerr
	}
	if req.IncludeResourceData {
		return errf(400, "ValidationError", "Rich notifications are outside the emulated surface.")
	}
	// chosen (A7): clientState is at most 128 characters.
	if len(req.ClientState) > 128 {
		return errf(400, "ValidationError", "clientState must be at most 128 characters.")
	}
	if req.ChangeType == "" || req.NotificationURL == "" {
		return errf(400, "ValidationError", "changeType and notificationUrl are required.")
	}
	exp, gerr := s.checkExpiry(req.ExpirationDateTime)
	if gerr != nil {
		return gerr
	}
	segs := splitPath(req.Resource)
	if len(segs) < 3 || !strings.EqualFold(segs[0], "users") && !strings.EqualFold(segs[0], "me") {
		return errf(400, "ExtensionError", "Resource %q is not supported.", req.Resource)
	}
	s.mu.Lock()
	m := s.findLocked(segs[1])
	s.mu.Unlock()
	if m == nil {
		return errf(404, "ResourceNotFound", "Resource %q does not exist.", req.Resource)
	}
	sub := &subscription{id: newGUID(), resource: req.Resource, changeTypes: req.ChangeType, notifyURL: req.NotificationURL,
		lifecycleURL: req.LifecycleNotificationURL, clientState: req.ClientState, expires: exp, mb: m}
	low := strings.ToLower(strings.Join(segs[2:], "/"))
	switch {
	case low == "messages":
		sub.kind = kindMessage
	case strings.HasPrefix(low, "mailfolders/") && strings.HasSuffix(low, "/messages") && len(segs) == 5:
		sub.kind, sub.folder = kindMessage, segs[3]
	case low == "events":
		sub.kind = kindEvent
	case low == "contacts":
		sub.kind = kindContact
	case strings.HasPrefix(low, "contactfolders/") && strings.HasSuffix(low, "/contacts") && len(segs) == 5:
		sub.kind, sub.folder = kindContact, segs[3]
	case strings.HasPrefix(low, "todo/lists/") && strings.HasSuffix(low, "/tasks") && len(segs) == 6:
		sub.kind, sub.folder = kindTask, segs[4]
	default:
		return errf(400, "ExtensionError", "Resource %q is not supported.", req.Resource)
	}
	// [D] CNW: both URLs must echo a validation token within 10 s.
	for _, u := range []string{req.NotificationURL, req.LifecycleNotificationURL} {
		if u == "" {
			continue
		}
		if err := s.validateEndpoint(c.r.Context(), u); err != nil {
			return errf(400, "ValidationError", "Subscription validation request failed. %v", err)
		}
	}
	s.mu.Lock()
	s.subs[sub.id] = sub
	j := sub.json()
	s.mu.Unlock()
	writeJSON(c.w, 201, j)
	return nil
}

func (s *Server) validateEndpoint(ctx context.Context, u string) error {
	token := "Validation: Testing client application reachability for subscription Request-Id: " + newGUID()
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+sep+"validationToken="+url.QueryEscape(token), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != 200 || string(b) != token {
		return fmt.Errorf("the endpoint answered %d without echoing the token", resp.StatusCode)
	}
	return nil
}

// notify posts change notifications for o to the subscriptions that
// watch it, each in its own goroutine.
func (s *Server) notify(m *mailbox, changeType string, o *object) {
	s.mu.Lock()
	now := s.o.Now()
	var posts []func()
	for _, sub := range s.subs {
		if sub.mb != m || sub.kind != o.kind || now.After(sub.expires) || !strings.Contains(sub.changeTypes, changeType) {
			continue
		}
		if sub.folder != "" && sub.folder != o.parent && m.wellKnown[strings.ToLower(sub.folder)] != o.parent {
			continue
		}
		body := map[string]any{"value": []any{map[string]any{
			"subscriptionId": sub.id, "subscriptionExpirationDateTime": sub.expires.UTC().Format(time.RFC3339Nano),
			"changeType": changeType, "resource": "Users/" + m.id + "/Messages/" + o.id, "clientState": sub.clientState,
			"tenantId": s.o.Tenant,
			"resourceData": map[string]any{"@odata.type": "#Microsoft.Graph." + o.kind, "@odata.id": "Users/" + m.id + "/" + o.kind + "s/" + o.id,
				"@odata.etag": o.etag(), "id": o.id}}}}
		u := sub.notifyURL
		posts = append(posts, func() { s.post(u, body) })
	}
	s.mu.Unlock()
	for _, p := range posts {
		s.wg.Go(p)
	}
}

func (s *Server) post(u string, body any) {
	b, _ := json.Marshal(body)
	resp, err := s.o.Client.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		s.log.Debug("graphemu: notification not delivered", "url", u, "err", err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// Lifecycle sends lifecycle event ev (missed, subscriptionRemoved or
// reauthorizationRequired) for subscription id to its lifecycle URL
// (§3.1); subscriptionRemoved also deletes the subscription.
func (s *Server) Lifecycle(id, ev string) error {
	s.mu.Lock()
	sub := s.subs[id]
	if sub == nil {
		s.mu.Unlock()
		return fmt.Errorf("graphemu: no subscription %q", id)
	}
	if ev == "subscriptionRemoved" {
		delete(s.subs, id)
	}
	u := sub.lifecycleURL
	body := map[string]any{"value": []any{map[string]any{"subscriptionId": sub.id,
		"subscriptionExpirationDateTime": sub.expires.UTC().Format(time.RFC3339Nano), "tenantId": s.o.Tenant,
		"clientState": sub.clientState, "lifecycleEvent": ev}}}
	s.mu.Unlock()
	if u == "" {
		return fmt.Errorf("graphemu: subscription %q has no lifecycle URL", id)
	}
	s.post(u, body)
	return nil
}

// Subscriptions lists the ids of the active subscriptions.
func (s *Server) Subscriptions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.subs {
		out = append(out, id)
	}
	return out
}
