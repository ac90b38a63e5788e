package graphemu

func (s *Server) serveContacts(c *call, rest []string) *graphError { return notImplemented(c.r) }
func (s *Server) serveCalendar(c *call, rest []string) *graphError { return notImplemented(c.r) }
func (s *Server) serveTodo(c *call, rest []string) *graphError     { return notImplemented(c.r) }
func (s *Server) expandLocked(m *mailbox, o *object)               {}
