package gateway

import (
	"context"
	"strings"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// handleSmartReply answers SmartReply, MS-ASCMD 2.2.1.20: the client sends
// only its new text, and the server sends it with the original quoted
// below, threaded to it (In-Reply-To, References), then marks the original
// answered. Success has no response body (MS-ASCMD 2.2.3.177.18).
func (s *Server) handleSmartReply(ctx context.Context, sess *Session, req *eas.SmartReplyRequest) (*eas.SmartReplyResponse, error) {
	return nil, s.submitOnce(ctx, sess, req.ClientID, func() error {
		return s.smart(ctx, sess, &smartRequest{
			cmd:         eas.CmdSmartReply,
			source:      req.Source,
			saveInSent:  req.SaveInSentItems,
			replaceMime: req.ReplaceMime,
			mime:        req.Mime,
		})
	})
}

// attribution is the line that introduces the quoted original.
func attribution(m *sources.Message) string {
	who := "the sender"
	if len(m.From) > 0 {
		who = formatAddresses(m.From[:1])
	}
	if m.Date.IsZero() {
		return who + " wrote:"
	}
	return "On " + m.Date.Format("Mon, 2 Jan 2006 15:04 -0700") + ", " + who + " wrote:"
}

// quote prefixes each line of text with "> ", as RFC 3676 4.5 quotes.
func quote(text string) string {
	text = strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var b strings.Builder
	for line := range strings.SplitSeq(text, "\n") {
		if line == "" || strings.HasPrefix(line, ">") {
			b.WriteString(">" + line + "\r\n")
		} else {
			b.WriteString("> " + line + "\r\n")
		}
	}
	return b.String()
}
