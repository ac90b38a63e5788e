package graphemu

import (
	"fmt"
	"time"
)

// Seed adds the mailboxes alice and bob at domain, with a few messages in
// alice's Inbox, for trying the emulator by hand.
func Seed(s *Server, domain string) error {
	alice := "alice@" + domain
	s.AddUser(alice, "Alice Example")
	s.AddUser("bob@"+domain, "Bob Example")
	now := s.o.Now()
	for i, subject := range []string{"Welcome to the Graph emulator", "Lunch on Friday?", "Quarterly figures"} {
		raw := fmt.Sprintf("From: Bob Example <bob@%s>\r\nTo: Alice Example <%s>\r\nSubject: %s\r\n"+
			"Date: %s\r\nMessage-ID: <seed%d@%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
			"This message was seeded by easgate graph-emulator.\r\n",
			domain, alice, subject, now.Add(-time.Duration(3-i)*time.Hour).Format(time.RFC1123Z), i, domain)
		if _, err := s.DeliverMail(alice, "inbox", []byte(raw)); err != nil {
			return err
		}
	}
	return nil
}
