package sources

import "time"

// Note is a free-text note.
type Note struct {
	Subject    string
	Body       string
	Categories []string
	Modified   time.Time // when the note's text last changed
}
