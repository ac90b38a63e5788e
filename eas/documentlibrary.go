package eas

// Document is a document library entry (a UNC or SharePoint file or
// folder) as Search and ItemOperations return it. Dates use the extended
// form. MS-ASDOC 2.2.2 (12.0 and later).
type Document struct {
	LinkID           string    `wbxml:"DocumentLibrary:LinkId"`
	DisplayName      string    `wbxml:"DocumentLibrary:DisplayName,omitempty"`
	IsFolder         bool      `wbxml:"DocumentLibrary:IsFolder"`
	CreationDate     *DateTime `wbxml:"DocumentLibrary:CreationDate,omitempty"`
	LastModifiedDate *DateTime `wbxml:"DocumentLibrary:LastModifiedDate,omitempty"`
	IsHidden         bool      `wbxml:"DocumentLibrary:IsHidden"`
	ContentLength    *uint64   `wbxml:"DocumentLibrary:ContentLength,omitempty"` // files only
	ContentType      string    `wbxml:"DocumentLibrary:ContentType,omitempty"`   // files only
}

// Validate checks d against protocol version v.
func (d *Document) Validate(v ProtocolVersion) error {
	if err := needVersion("DocumentLibrary class", true, V120, v); err != nil {
		return err
	}
	if d.LinkID == "" {
		return schemaErrorf("Search", "DocumentLibrary:LinkId missing")
	}
	if d.IsFolder && (d.ContentLength != nil || d.ContentType != "") {
		return schemaErrorf("Search", "DocumentLibrary:IsFolder 1 with a content length or type")
	}
	return nil
}
