package imapdav

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/easgate/easgate/sources"
)

// Send implements sources.Sender: SMTP submission with the user's
// credentials to the recipients of To, Cc and Bcc (Bcc itself is not
// transmitted), then, if saveInSent, an APPEND of the message as sent
// (with its Bcc) to the \Sent mailbox.
func (s *Source) Send(ctx context.Context, msg io.Reader, saveInSent bool) error {
	if s.opts.Submission == "" {
		return fmt.Errorf("imapdav: send: no submission server configured: %w", sources.ErrUnsupported)
	}
	raw, err := io.ReadAll(io.LimitReader(msg, maxMessage+1))
	if err != nil {
		return fmt.Errorf("imapdav: send: read message: %w", err)
	}
	if len(raw) > maxMessage {
		return fmt.Errorf("imapdav: send: message over %d bytes: %w", maxMessage, sources.ErrTooLarge)
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	th, err := textproto.ReadHeader(br)
	if err != nil {
		return fmt.Errorf("imapdav: send: message header: %w", err)
	}
	h := mail.Header{Header: message.Header{Header: th}}
	from, err := h.AddressList("From")
	if err != nil || len(from) == 0 {
		return fmt.Errorf("imapdav: send: no From address: %w", sources.ErrUnsupported)
	}
	var rcpts []string
	for _, k := range []string{"To", "Cc", "Bcc"} {
		l, _ := h.AddressList(k)
		for _, a := range l {
			rcpts = append(rcpts, a.Address)
		}
	}
	if len(rcpts) == 0 {
		return fmt.Errorf("imapdav: send: no recipients: %w", sources.ErrUnsupported)
	}
	wire := h.Copy()
	wire.Del("Bcc")
	var out bytes.Buffer
	if err := textproto.WriteHeader(&out, wire.Header.Header); err != nil {
		return fmt.Errorf("imapdav: send: %w", err)
	}
	if _, err := io.Copy(&out, br); err != nil {
		return fmt.Errorf("imapdav: send: %w", err)
	}
	if err := s.submit(ctx, from[0].Address, rcpts, out.Bytes()); err != nil {
		return err
	}
	if !saveInSent {
		return nil
	}
	err = s.with(ctx, func(c *conn) error {
		sent, err := c.specialFolder(imap.MailboxAttrSent)
		if err != nil {
			return err
		}
		_, err = c.appendMsg(sent, raw, []imap.Flag{imap.FlagSeen}, time.Now())
		return err
	})
	if err != nil {
		// The message went out; a missing sent copy must not make the
		// device send it again.
		s.logger().Warn("imapdav: sent, but no copy in Sent", "err", err)
	}
	return nil
}

// submit hands msg to the submission server, upgrading with STARTTLS
// when the server offers it (and the TLS mode allows).
func (s *Source) submit(ctx context.Context, from string, rcpts []string, msg []byte) error {
	addr := s.opts.Submission
	host, _, _ := net.SplitHostPort(addr)
	cfg := &tls.Config{ServerName: host}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return sources.MarkTemporary(fmt.Errorf("imapdav: connect to %s: %w", addr, err))
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	var c *smtp.Client
	switch s.opts.SubmissionTLS {
	case TLSImplicit:
		c = smtp.NewClient(tls.Client(nc, cfg))
	case TLSNone:
		c = smtp.NewClient(nc)
	default:
		c = smtp.NewClient(nc)
		if err := c.Hello("localhost"); err != nil {
			c.Close()
			return smtpErr(err, "ehlo")
		}
		if ok, _ := c.Extension("STARTTLS"); ok {
			c.Close()
			// go-smtp upgrades only a fresh connection.
			if nc, err = d.DialContext(dctx, "tcp", addr); err != nil {
				return sources.MarkTemporary(fmt.Errorf("imapdav: connect to %s: %w", addr, err))
			}
			stop()
			stop = context.AfterFunc(ctx, func() { nc.Close() })
			if c, err = smtp.NewClientStartTLS(nc, cfg); err != nil {
				nc.Close()
				return smtpErr(err, "starttls")
			}
		}
	}
	defer c.Close()
	if ok, _ := c.Extension("AUTH"); ok {
		if err := c.Auth(sasl.NewPlainClient("", s.user, s.pass)); err != nil {
			return smtpErr(err, "auth")
		}
	}
	if err := c.SendMail(from, rcpts, bytes.NewReader(msg)); err != nil {
		return smtpErr(err, "send")
	}
	c.Quit()
	return nil
}

// smtpErr classifies an SMTP failure: 4xx replies and broken connections
// are temporary, 535 an authentication failure.
func smtpErr(err error, what string) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		switch {
		case se.Code == 535:
			return fmt.Errorf("imapdav: smtp %s: %w: %w", what, sources.ErrAuth, err)
		case se.Code == 552:
			return fmt.Errorf("imapdav: smtp %s: %w: %w", what, sources.ErrTooLarge, err)
		case se.Code >= 400 && se.Code < 500:
			return sources.MarkTemporary(fmt.Errorf("imapdav: smtp %s: %w", what, err))
		}
		return fmt.Errorf("imapdav: smtp %s: %w", what, err)
	}
	return sources.MarkTemporary(fmt.Errorf("imapdav: smtp %s: %w", what, err))
}
