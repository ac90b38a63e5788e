package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// multipartType is the media type of a multipart ItemOperations response,
// MS-ASCMD 2.2.1.10.1.
const multipartType = "application/vnd.ms-sync.multipart"

// copyBufferSize is the buffer attachments travel through: nothing holds a
// whole attachment in memory.
const copyBufferSize = 32 << 10

// ioResult is the answer to one operation before it is written: the
// result, and for an attachment fetched by FileReference its content.
type ioResult struct {
	res eas.ItemOperationResult
	att *fetchedAttachment
	// body is the Body data of a mailbox item fetched in the multipart
	// form; its Body then carries a Part index instead of the data.
	body []byte
}

// ioParts numbers the binary parts of a multipart response as operations
// claim them: 1, 2, ... in the order of the operations, part 0 being the
// WBXML document (MS-ASCMD 2.2.1.10.1.1).
type ioParts struct {
	on   bool // the client accepts the multipart form
	last int
}

func (p *ioParts) claim() int {
	p.last++
	return p.last
}

// fetchedAttachment is an attachment, or the byte range of it that was
// asked for, read into a spool so that its exact length is known before the
// response starts.
type fetchedAttachment struct {
	contentType string
	rng         string // "m-n" when a Range was asked for
	total       int64
	data        *spool
	part        int // its Part index in the multipart form
}

// streamItemOperations answers ItemOperations, MS-ASCMD 2.2.1.10. The
// operations run in order, each with its own Status; attachment contents
// are copied into spools and then streamed into the response, inline as
// base64 or, when the client accepts it, as binary parts of a multipart
// response (MS-ASCMD 2.2.1.10.1).
func (s *Server) streamItemOperations(ctx context.Context, sess *Session, r request, w http.ResponseWriter) error {
	req := r.(*eas.ItemOperationsRequest)
	multipart := sess.Request.Params.AcceptMultiPart
	ps := &ioParts{on: multipart}
	results := make([]ioResult, 0, len(req.Operations))
	defer func() {
		for _, r := range results {
			if r.att != nil {
				r.att.data.Close()
			}
		}
	}()
	for _, op := range req.Operations {
		var res ioResult
		switch {
		case op.Fetch != nil:
			res = s.ioFetch(ctx, sess, op.Fetch, ps)
		case op.EmptyFolderContents != nil:
			res.res.EmptyFolderContents = s.ioEmptyFolder(ctx, sess, op.EmptyFolderContents)
		case op.Move != nil:
			res.res.Move = s.ioMoveConversation(ctx, sess, op.Move)
		}
		results = append(results, res)
	}
	if !multipart {
		w.Header().Set("Content-Type", wbxmlType)
		w.WriteHeader(http.StatusOK)
		e := eas.NewEncoder(w)
		writeItemOperations(e, results, false)
		return e.Close()
	}
	return writeMultipart(w, results)
}

// writeItemOperations writes the response document. In the multipart form
// attachment contents are replaced by their Part index.
func writeItemOperations(e *eas.Encoder, results []ioResult, multipart bool) {
	var (
		root   = eas.Tag{Page: eas.PageItemOperations, Name: "ItemOperations"}
		resp   = eas.Tag{Page: eas.PageItemOperations, Name: "Response"}
		fetch  = eas.Tag{Page: eas.PageItemOperations, Name: "Fetch"}
		props  = eas.Tag{Page: eas.PageItemOperations, Name: "Properties"}
		status = eas.Tag{Page: eas.PageItemOperations, Name: "Status"}
	)
	e.EncodeToken(eas.StartTag{Tag: root})
	e.EncodeElement(int(eas.ItemOperationsStatusSuccess), eas.StartTag{Tag: status})
	e.EncodeToken(eas.StartTag{Tag: resp})
	for _, r := range results {
		if r.att == nil {
			writeResult(e, r.res)
			continue
		}
		f := r.res.Fetch
		e.EncodeToken(eas.StartTag{Tag: fetch})
		e.EncodeElement(int(f.Status), eas.StartTag{Tag: status})
		e.EncodeElement(f.FileReference, eas.StartTag{Tag: eas.Tag{Page: eas.PageAirSyncBase, Name: "FileReference"}})
		e.EncodeToken(eas.StartTag{Tag: props})
		if r.att.contentType != "" {
			e.EncodeElement(r.att.contentType, eas.StartTag{Tag: eas.Tag{Page: eas.PageAirSyncBase, Name: "ContentType"}})
		}
		if r.att.rng != "" {
			e.EncodeElement(r.att.rng, eas.StartTag{Tag: eas.Tag{Page: eas.PageItemOperations, Name: "Range"}})
		}
		e.EncodeElement(r.att.total, eas.StartTag{Tag: eas.Tag{Page: eas.PageItemOperations, Name: "Total"}})
		if multipart {
			e.EncodeElement(r.att.part, eas.StartTag{Tag: eas.Tag{Page: eas.PageItemOperations, Name: "Part"}})
		} else if r.att.data.size > 0 {
			writeBase64(e, r.att.data)
		}
		e.EncodeToken(eas.EndTag{Tag: props})
		e.EncodeToken(eas.EndTag{Tag: fetch})
	}
	e.EncodeToken(eas.EndTag{Tag: resp})
	e.EncodeToken(eas.EndTag{Tag: root})
}

// writeResult writes one Fetch, EmptyFolderContents or Move result.
func writeResult(e *eas.Encoder, r eas.ItemOperationResult) {
	name, v := "", any(nil)
	switch {
	case r.Fetch != nil:
		name, v = "Fetch", r.Fetch
	case r.EmptyFolderContents != nil:
		name, v = "EmptyFolderContents", r.EmptyFolderContents
	case r.Move != nil:
		name, v = "Move", r.Move
	default:
		return
	}
	e.EncodeElement(v, eas.StartTag{Tag: eas.Tag{Page: eas.PageItemOperations, Name: name}})
}

// writeBase64 writes the spool as the Data element, base64 encoded in
// pieces: consecutive strings of one element make one value.
func writeBase64(e *eas.Encoder, sp *spool) {
	data := eas.Tag{Page: eas.PageItemOperations, Name: "Data"}
	e.EncodeToken(eas.StartTag{Tag: data})
	r, err := sp.reader()
	if err == nil {
		buf := make([]byte, 24<<10) // a multiple of 3: no padding between pieces
		out := make([]byte, base64.StdEncoding.EncodedLen(len(buf)))
		for {
			n, rerr := io.ReadFull(r, buf)
			if n > 0 {
				base64.StdEncoding.Encode(out, buf[:n])
				e.EncodeToken(eas.Text(out[:base64.StdEncoding.EncodedLen(n)]))
			}
			if rerr != nil {
				break
			}
		}
	}
	e.EncodeToken(eas.EndTag{Tag: data})
}

// writeMultipart writes the MultiPartResponse of MS-ASCMD 2.2.1.10.1.1: the
// number of parts, an (offset, length) pair for each, all little-endian
// 32-bit integers, then the parts: the WBXML document first, then the
// binary parts in the order of their Part indexes.
func writeMultipart(w http.ResponseWriter, results []ioResult) error {
	var doc bytes.Buffer
	e := eas.NewEncoder(&doc)
	writeItemOperations(e, results, true)
	if err := e.Close(); err != nil {
		return err
	}
	type part struct {
		size int64
		data *spool
		mem  []byte
	}
	parts := []part{{size: int64(doc.Len()), mem: doc.Bytes()}}
	for _, r := range results {
		switch {
		case r.att != nil:
			parts = append(parts, part{size: r.att.data.size, data: r.att.data})
		case r.body != nil:
			parts = append(parts, part{size: int64(len(r.body)), mem: r.body})
		}
	}
	head := make([]byte, 4+8*len(parts))
	binary.LittleEndian.PutUint32(head, uint32(len(parts)))
	off := int64(len(head))
	for i, p := range parts {
		if off+p.size > 1<<32-1 {
			return fmt.Errorf("gateway: multipart response over 4 GiB: %w", sources.ErrTooLarge)
		}
		binary.LittleEndian.PutUint32(head[4+8*i:], uint32(off))
		binary.LittleEndian.PutUint32(head[8+8*i:], uint32(p.size))
		off += p.size
	}
	w.Header().Set("Content-Type", multipartType)
	w.Header().Set("Content-Length", strconv.FormatInt(off, 10))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(head); err != nil {
		return err
	}
	buf := make([]byte, copyBufferSize)
	for _, p := range parts {
		if p.data == nil {
			if _, err := w.Write(p.mem); err != nil {
				return err
			}
			continue
		}
		r, err := p.data.reader()
		if err != nil {
			return err
		}
		if _, err := io.CopyBuffer(w, io.LimitReader(r, p.size), buf); err != nil {
			return err
		}
	}
	return nil
}

// ioFetch runs one Fetch. Failures become its Status.
func (s *Server) ioFetch(ctx context.Context, sess *Session, f *eas.Fetch, ps *ioParts) ioResult {
	res := &eas.FetchResult{Status: eas.ItemOperationsStatusSuccess}
	out := ioResult{res: eas.ItemOperationResult{Fetch: res}}
	if !strings.EqualFold(f.Store, eas.FetchStoreMailbox) {
		// No document library stands behind easgate.
		res.Status = eas.ItemOperationsStatusUnknownStore
		res.LinkID = f.LinkID
		return out
	}
	claimed := ps.last
	var err error
	switch {
	case f.FileReference != "":
		res.FileReference = f.FileReference
		if out.att, err = s.fetchAttachment(ctx, sess, f); err == nil && ps.on {
			out.att.part = ps.claim()
		}
	case f.LongID != "":
		res.LongID = f.LongID
		var ref sources.ItemRef
		if ref, err = parseLongID(f.LongID); err == nil {
			err = s.fetchItem(ctx, sess, ref, f.Options, ps, &out)
		}
	default:
		res.CollectionID, res.ServerID = f.CollectionID, f.ServerID
		var ref sources.ItemRef
		if ref, err = s.itemRef(ctx, sess, f.CollectionID, f.ServerID); err == nil {
			err = s.fetchItem(ctx, sess, ref, f.Options, ps, &out)
		}
	}
	if err != nil {
		res.Status = eas.ItemOperationsStatus(s.statusOf(ctx, sess, eas.ScopeItem, err))
		res.Class, res.Properties = "", eas.Raw{}
		out.att, out.body = nil, nil
		ps.last = claimed // a failed fetch sends no part
	}
	return out
}

// itemRef resolves an EAS CollectionId and ServerId to the store's ids.
func (s *Server) itemRef(ctx context.Context, sess *Session, collectionID, serverID string) (sources.ItemRef, error) {
	if s.state == nil {
		return sources.ItemRef{}, errors.New("gateway: no state store")
	}
	folder, err := s.state.FolderID(ctx, sess.Account, collectionID)
	if err != nil {
		return sources.ItemRef{}, fmt.Errorf("gateway: collection %q: %w", collectionID, err)
	}
	id, err := s.state.MapID(ctx, statecache.CollectionKey{Account: sess.Account, Collection: collectionID}, serverID)
	if err != nil {
		return sources.ItemRef{}, fmt.Errorf("gateway: item %q: %w", serverID, err)
	}
	return sources.ItemRef{Folder: sources.FolderID(folder), ID: sources.ItemID(id)}, nil
}

// fetchItem fills out with a mailbox item converted for the client: the
// body the Options prefer, only the properties Schema names, and in the
// multipart form the body's data as a part of its own.
func (s *Server) fetchItem(ctx context.Context, sess *Session, ref sources.ItemRef, o *eas.FetchOptions, ps *ioParts, out *ioResult) error {
	v := sess.Version()
	var so *eas.SyncOptions
	if o != nil {
		so = &eas.SyncOptions{BodyPreference: o.BodyPreference, MIMESupport: o.MIMESupport}
	}
	// Mail is the only kind whose parts are fetched selectively; the other
	// kinds come whole whatever the class says.
	p := newBodyPrefs(v, classEmail, so)
	p.src, p.self = sess.Source, s.primaryAddress(sess.User)
	items, err := sess.Source.Get(ctx, ref.Folder, []sources.ItemID{ref.ID}, p.getOptions())
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return fmt.Errorf("gateway: item %q of %q: %w", ref.ID, ref.Folder, sources.ErrNotFound)
	}
	it := &items[0]
	p.class = itemClassOf(it)
	props, err := toEAS(ctx, it, v, p)
	if err != nil {
		return err
	}
	schema := o != nil && !o.Schema.IsZero()
	if ps.on && it.Mail != nil && (!schema || schemaHas(o.Schema, tagAirSyncBaseBody)) {
		var m eas.Email
		if err := props.Decode(&m); err != nil {
			return err
		}
		if m.Body != nil && m.Body.Data != nil {
			out.body = []byte(*m.Body.Data)
			m.Body.Data = nil
			m.Body.Part = ptr(uint32(ps.claim()))
			props = eas.RawValue(&m)
		}
	}
	if schema {
		if props, err = onlySchema(props, o.Schema); err != nil {
			return err
		}
	}
	res := out.res.Fetch
	res.Class, res.Properties = p.class, props
	return nil
}

// itemClassOf is the EAS class of an item's kind.
func itemClassOf(it *sources.Item) string {
	switch {
	case it.Contact != nil:
		return classContacts
	case it.Event != nil:
		return classCalendar
	case it.Task != nil:
		return classTasks
	case it.Note != nil:
		return classNotes
	}
	return classEmail
}

var tagAirSyncBaseBody = eas.Tag{Page: eas.PageAirSyncBase, Name: "Body"}

// schemaTags returns the tags a Schema lists (MS-ASCMD 2.2.3.158.1).
func schemaTags(schema eas.Raw) map[eas.Tag]bool {
	want := map[eas.Tag]bool{}
	for _, t := range schema.Tokens() {
		if st, ok := t.(eas.StartTag); ok {
			want[st.Tag] = true
		}
	}
	return want
}

func schemaHas(schema eas.Raw, t eas.Tag) bool { return schemaTags(schema)[t] }

// onlySchema keeps of props the top-level elements that schema lists as
// empty tags.
func onlySchema(props, schema eas.Raw) (eas.Raw, error) {
	want := schemaTags(schema)
	toks, err := rawTokens(props)
	if err != nil {
		return eas.Raw{}, err
	}
	var kept []eas.Token
	depth, skip := 0, false
	for _, t := range toks {
		switch t := t.(type) {
		case eas.StartTag:
			if depth == 0 {
				skip = !want[t.Tag]
			}
			if !t.Empty {
				depth++
			} else if depth == 0 {
				if !skip {
					kept = append(kept, t)
				}
				continue
			}
		case eas.EndTag:
			depth--
			if depth == 0 {
				if !skip {
					kept = append(kept, t)
				}
				continue
			}
		}
		if !skip {
			kept = append(kept, t)
		}
	}
	return rawFromTokens(kept)
}

var tagProperties = eas.Tag{Page: eas.PageItemOperations, Name: "Properties"}

// rawTokens returns the content of r as tokens.
func rawTokens(r eas.Raw) ([]eas.Token, error) {
	if r.Tokens() != nil {
		return r.Tokens(), nil
	}
	var buf bytes.Buffer
	e := eas.NewEncoder(&buf)
	if err := r.MarshalWBXML(e, eas.StartTag{Tag: tagProperties}); err != nil {
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	var out eas.Raw
	if err := eas.NewDecoder(&buf, nil).Decode(&out); err != nil {
		return nil, err
	}
	return out.Tokens(), nil
}

// rawFromTokens makes a Raw of element content.
func rawFromTokens(toks []eas.Token) (eas.Raw, error) {
	var buf bytes.Buffer
	e := eas.NewEncoder(&buf)
	e.EncodeToken(eas.StartTag{Tag: tagProperties})
	for _, t := range toks {
		if st, ok := t.(eas.StartTag); ok && st.Empty {
			// An empty tag's EndTag was never captured.
			e.EncodeToken(st)
			e.EncodeToken(eas.EndTag{Tag: st.Tag})
			continue
		}
		e.EncodeToken(t)
	}
	e.EncodeToken(eas.EndTag{Tag: tagProperties})
	if err := e.Close(); err != nil {
		return eas.Raw{}, err
	}
	var out eas.Raw
	err := eas.NewDecoder(&buf, nil).Decode(&out)
	return out, err
}

// fetchAttachment reads the attachment f names, or the Range of it f asks
// for, into a spool. MS-ASCMD 2.2.3.143.2: Range is zero-based and
// inclusive, and the response's Range says which bytes were sent.
func (s *Server) fetchAttachment(ctx context.Context, sess *Session, f *eas.Fetch) (*fetchedAttachment, error) {
	ref, err := parseFileReference(f.FileReference)
	if err != nil {
		return nil, err
	}
	from, to, ranged := int64(0), int64(-1), false
	if f.Options != nil && f.Options.Range != "" {
		a, b, _ := strings.Cut(f.Options.Range, "-")
		from, _ = strconv.ParseInt(a, 10, 64)
		to, _ = strconv.ParseInt(b, 10, 64)
		ranged = true
	}
	att, rc, err := openAttachment(ctx, sess.Source, ref)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, copyBufferSize)
	skipped, err := io.CopyBuffer(io.Discard, io.LimitReader(rc, from), buf)
	if err != nil {
		return nil, fmt.Errorf("gateway: reading attachment: %w", err)
	}
	fa := &fetchedAttachment{contentType: att.ContentType, data: &spool{}}
	var src io.Reader = rc
	if ranged {
		src = io.LimitReader(rc, to-from+1)
	}
	n, err := io.CopyBuffer(fa.data, src, buf)
	if err != nil {
		fa.data.Close()
		return nil, fmt.Errorf("gateway: reading attachment: %w", err)
	}
	fa.total = skipped + n
	if ranged {
		if att.Size > 0 {
			fa.total = att.Size
		} else if rest, err := io.CopyBuffer(io.Discard, rc, buf); err == nil {
			fa.total += rest
		}
		if n == 0 {
			fa.data.Close()
			return nil, &eas.StatusError{Status: eas.Status(eas.ItemOperationsStatusBadByteRange), Scope: eas.ScopeItem}
		}
		fa.rng = strconv.FormatInt(from, 10) + "-" + strconv.FormatInt(from+n-1, 10)
	}
	return fa, nil
}

// openAttachment opens an attachment through sources.Attachments.
func openAttachment(ctx context.Context, src sources.Source, ref sources.AttachmentRef) (sources.Attachment, io.ReadCloser, error) {
	a, ok := src.(sources.Attachments)
	if !ok {
		return sources.Attachment{}, nil, fmt.Errorf("gateway: the store cannot open attachments: %w", sources.ErrUnsupported)
	}
	return a.OpenAttachment(ctx, ref)
}

// ioEmptyFolder deletes every item of a folder and, with DeleteSubFolders,
// its subfolders, MS-ASCMD 2.2.3.58. Items that could not be deleted make
// the status 17, partial success.
func (s *Server) ioEmptyFolder(ctx context.Context, sess *Session, op *eas.EmptyFolderContents) *eas.EmptyFolderContentsResult {
	res := &eas.EmptyFolderContentsResult{CollectionID: op.CollectionID, Status: eas.ItemOperationsStatusSuccess}
	if err := s.emptyFolder(ctx, sess, op); err != nil {
		res.Status = eas.ItemOperationsStatus(s.statusOf(ctx, sess, eas.ScopeItem, err))
	}
	return res
}

var errEmptyPartial = &eas.StatusError{Status: eas.Status(eas.ItemOperationsStatusPartialSuccess), Scope: eas.ScopeItem}

func (s *Server) emptyFolder(ctx context.Context, sess *Session, op *eas.EmptyFolderContents) error {
	if s.state == nil {
		return errors.New("gateway: no state store")
	}
	fid, err := s.state.FolderID(ctx, sess.Account, op.CollectionID)
	if err != nil {
		return fmt.Errorf("gateway: collection %q: %w", op.CollectionID, err)
	}
	folder := sources.FolderID(fid)
	wr, ok := sess.Source.(sources.Writer)
	if !ok {
		return fmt.Errorf("gateway: the store is read-only: %w", sources.ErrUnsupported)
	}
	ids, err := folderItemIDs(ctx, sess.Source, folder)
	if err != nil {
		return err
	}
	failed := 0
	for _, id := range ids {
		if err := wr.Delete(ctx, folder, id); err != nil && !errors.Is(err, sources.ErrNotFound) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed++
		}
	}
	if op.Options != nil && op.Options.DeleteSubFolders {
		fw, ok := sess.Source.(sources.FolderWriter)
		if !ok {
			return errEmptyPartial
		}
		fd, err := sess.Source.Folders(ctx, "")
		if err != nil {
			return err
		}
		for _, f := range fd.Changed {
			if f.ParentID == folder {
				// DeleteFolder takes the subfolder's own subfolders too.
				if err := fw.DeleteFolder(ctx, f.ID); err != nil && !errors.Is(err, sources.ErrNotFound) {
					failed++
				}
			}
		}
	}
	if failed > 0 {
		return errEmptyPartial
	}
	return nil
}

// folderItemIDs lists every item of a folder, paging through its change feed
// from the beginning.
func folderItemIDs(ctx context.Context, src sources.Source, f sources.FolderID) ([]sources.ItemID, error) {
	var ids []sources.ItemID
	var since sources.State
	for {
		d, err := src.Changes(ctx, f, since, 500)
		if err != nil {
			return nil, err
		}
		ids = append(ids, d.Changed...)
		if !d.More {
			return ids, nil
		}
		since = d.Next
	}
}

// ioMoveConversation moves the messages of a conversation to another
// folder, MS-ASCMD 2.2.3.117.1. Conversations are recognised by the
// ConversationId the converter gives every message; the messages are found
// in every mail folder but the destination and the folders of the user's
// own outgoing mail. MoveAlways (moving future messages too) needs a store
// rule, which no store offers: it is accepted and ignored.
func (s *Server) ioMoveConversation(ctx context.Context, sess *Session, op *eas.MoveConversation) *eas.MoveConversationResult {
	res := &eas.MoveConversationResult{ConversationID: op.ConversationID, Status: eas.ItemOperationsStatusSuccess}
	if err := s.moveConversation(ctx, sess, op); err != nil {
		res.Status = eas.ItemOperationsStatus(s.statusOf(ctx, sess, eas.ScopeItem, err))
	}
	return res
}

func (s *Server) moveConversation(ctx context.Context, sess *Session, op *eas.MoveConversation) error {
	if s.state == nil {
		return errors.New("gateway: no state store")
	}
	mv, ok := sess.Source.(sources.Mover)
	if !ok {
		return fmt.Errorf("gateway: the store cannot move: %w", sources.ErrUnsupported)
	}
	dst, err := s.state.FolderID(ctx, sess.Account, op.DstFldID)
	if errors.Is(err, statecache.ErrNotFound) {
		return fmt.Errorf("%w %q", errBadDestination, op.DstFldID)
	}
	if err != nil {
		return fmt.Errorf("gateway: looking up collection %q: %w", op.DstFldID, err)
	}
	found, err := conversationMessages(ctx, sess.Source, op.ConversationID, nil)
	if err != nil {
		return err
	}
	for _, fr := range found {
		if fr.folder == sources.FolderID(dst) {
			continue
		}
		if _, err := mv.Move(ctx, fr.folder, sources.FolderID(dst), fr.ids); err != nil {
			return err
		}
	}
	return nil
}

// folderItems is a folder and some of its items.
type folderItems struct {
	folder sources.FolderID
	ids    []sources.ItemID
}

// conversationMessages finds the messages whose ConversationId is conv, in
// folders or, when folders is empty, in every mail folder but those of
// outgoing mail. It reads only headers.
func conversationMessages(ctx context.Context, src sources.Source, conv []byte, folders []sources.FolderID) ([]folderItems, error) {
	if len(folders) == 0 {
		fd, err := src.Folders(ctx, "")
		if err != nil {
			return nil, err
		}
		for _, f := range fd.Changed {
			switch f.Kind {
			case sources.KindSent, sources.KindOutbox, sources.KindDrafts:
				continue
			}
			if f.Kind.Content() == sources.ContentMail {
				folders = append(folders, f.ID)
			}
		}
	}
	var out []folderItems
	for _, f := range folders {
		ids, err := folderItemIDs(ctx, src, f)
		if err != nil {
			return nil, err
		}
		var match []sources.ItemID
		for chunk := range slices.Chunk(ids, 100) {
			items, err := src.Get(ctx, f, chunk, nil)
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				if it.Mail != nil && bytes.Equal(conversationID(it.Mail), conv) {
					match = append(match, it.ID)
				}
			}
		}
		if len(match) > 0 {
			out = append(out, folderItems{folder: f, ids: match})
		}
	}
	return out, nil
}

// longID names a Search result for a later ItemOperations Fetch
// (MS-ASCMD 2.2.3.107): the folder and item ids, each base64url encoded
// and joined with ':'. Two parts tell it from a FileReference, which has
// three.
func longID(ref sources.ItemRef) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(ref.Folder)) + ":" + enc.EncodeToString([]byte(ref.ID))
}

// errBadLongID reports a LongId we did not make.
var errBadLongID = fmt.Errorf("gateway: bad LongId: %w", sources.ErrNotFound)

// parseLongID reverses longID.
func parseLongID(s string) (sources.ItemRef, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return sources.ItemRef{}, errBadLongID
	}
	f, err1 := base64.RawURLEncoding.DecodeString(a)
	id, err2 := base64.RawURLEncoding.DecodeString(b)
	if err1 != nil || err2 != nil || len(f) == 0 || len(id) == 0 {
		return sources.ItemRef{}, errBadLongID
	}
	return sources.ItemRef{Folder: sources.FolderID(f), ID: sources.ItemID(id)}, nil
}

// spoolMemory is how much of an attachment a spool keeps in memory before
// it moves to a temporary file.
const spoolMemory = 256 << 10

// spool holds bytes written to it in memory while they are few and in an
// unlinked temporary file past spoolMemory, so that a large attachment's
// exact length is known without holding it in memory.
type spool struct {
	mem  bytes.Buffer
	file *os.File
	size int64
}

// Write appends p.
func (sp *spool) Write(p []byte) (int, error) {
	if sp.file == nil && sp.mem.Len()+len(p) > spoolMemory {
		f, err := os.CreateTemp("", "easgate-spool-*")
		if err != nil {
			return 0, err
		}
		os.Remove(f.Name()) // the file goes with its last descriptor
		if _, err := f.Write(sp.mem.Bytes()); err != nil {
			f.Close()
			return 0, err
		}
		sp.mem = bytes.Buffer{}
		sp.file = f
	}
	var n int
	var err error
	if sp.file != nil {
		n, err = sp.file.Write(p)
	} else {
		n, err = sp.mem.Write(p)
	}
	sp.size += int64(n)
	return n, err
}

// reader returns the spooled bytes from the start.
func (sp *spool) reader() (io.Reader, error) {
	if sp.file == nil {
		return bytes.NewReader(sp.mem.Bytes()), nil
	}
	if _, err := sp.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return sp.file, nil
}

// Close releases the spool's file.
func (sp *spool) Close() error {
	if sp.file == nil {
		return nil
	}
	err := sp.file.Close()
	sp.file = nil
	return err
}
